"""The unified catalogue (目录): entries, lifecycle, versions, search, exchange and DCAT-AP."""
