"""The demo city's open data: real files behind the open entries the portal shows.

After the catalogue and the base data, providing bodies upload, through the ordinary ingest, a
file for their published open entries (有条件开放 or 无条件开放) — about sixty, over every theme and
providing body and one district catalogue per district: bus lines and stops, a month of hourly
air quality at 70 stations (~50,000 rows), hospitals, schools, scenic spots, parks, toilets,
statistics by district, the register's enterprises in licences and lists … 不予开放 entries get
nothing, nor do entries whose data someone else uploaded (the base-data registers).

Every file's columns are exactly the entry's fields, with values from the city (its districts,
streets and communities, the uploaded enterprise register, the catalogue itself) and the fixed
vocabulary in ``open-data-vocabulary.csv`` (real stations, scenic spots, parks and rivers with
approximate coordinates, reference prices). Each table draws from its own seeded generator, so
the same city gives byte-identical files.

Modules: :mod:`.world` (places, organisations, generators), :mod:`.registers` (registers that
several tables share), the tables by topic (:mod:`.transport`, :mod:`.readings`,
:mod:`.statistics`, :mod:`.business`, :mod:`.facilities`, :mod:`.districts`) and :mod:`.stage`
(which entries, the files, the uploads).
"""

from gongshu.demo.open_data.stage import NOTE, OpenDataSummary, load_open_data, open_entry_names

__all__ = ["NOTE", "OpenDataSummary", "load_open_data", "open_entry_names"]
