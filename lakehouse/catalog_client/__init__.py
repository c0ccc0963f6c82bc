"""Everything the library needs to use the catalog service from outside it; the service itself is :mod:`catalog`.

- :mod:`~lakehouse.catalog_client.connection`: where the REST catalog is and how to authenticate to it
  (:func:`connect_catalog`, :class:`CatalogConnection`), starting the embedded service on demand.
- :mod:`~lakehouse.catalog_client.process`: start the local service as a ``python -m catalog serve`` subprocess,
  find it again from its state folder (``catalog.json``, ``catalog.port``, ``catalog.lock``, ``catalog.log``), stop it.
- :mod:`~lakehouse.catalog_client.credentials`: the 0600 secret file, its two principals and the signed bearer
  tokens (``lakehouse serve`` verifies the catalog's tokens with the same code the service does).
- :mod:`~lakehouse.catalog_client.names`: what a namespace or table name may be (checked before any request).
- :mod:`~lakehouse.catalog_client.health`: what ``/healthz`` says, so the manager can tell the service is ours.

The dependency runs one way: :mod:`catalog` imports these modules, the library never imports :mod:`catalog`. Nothing
here imports FastAPI or pyiceberg at module level, so reaching the service keeps every CLI start light.
"""
