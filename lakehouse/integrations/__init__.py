"""Bridges to other frameworks, each behind an optional extra (imported only when used).

- :mod:`.passages`: one search (vector or hybrid) that returns passages with text, lineage and score; what the
  retrievers wrap.
- :mod:`.langchain`: :class:`~lakehouse.integrations.langchain.LakehouseRetriever`, a LangChain ``BaseRetriever``
  (``pip install 'lakehouse[langchain]'``).
- :mod:`.llamaindex`: :class:`~lakehouse.integrations.llamaindex.LakehouseLlamaRetriever`, a LlamaIndex
  ``BaseRetriever`` (``pip install 'lakehouse[llamaindex]'``).
- :mod:`.huggingface`: :func:`~lakehouse.integrations.huggingface.to_hf_dataset`, a table snapshot as a Hugging
  Face ``datasets.Dataset`` with its vectors and lineage columns (``pip install 'lakehouse[datasets]'``).
"""

from lakehouse.integrations.passages import Passage, PassageSearch

__all__ = ["Passage", "PassageSearch"]
