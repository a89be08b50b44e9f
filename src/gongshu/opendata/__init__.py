"""The open data portal (公共数据开放平台): the public face of the platform.

Citizens, developers and enterprises find, preview, download and call open data; ask for data
that is not yet open (接诉即办); apply for conditionally open data; and existing open-data
tools work unchanged through the CKAN-compatible Action API.
"""
