"""A LangChain retriever over a lakehouse embeddings table (``pip install 'lakehouse[langchain]'``).

Example::

    from lakehouse.integrations.langchain import LakehouseRetriever

    retriever = LakehouseRetriever.from_table("docs.embeddings", k=4, hybrid=True)
    docs = retriever.invoke("how do I vacuum a table")
    docs[0].page_content, docs[0].metadata["source_key"], docs[0].metadata["chunk_start"]
"""

from __future__ import annotations

from typing import Any

from lakehouse.integrations.passages import PassageSearch, require

require("langchain_core", "langchain")

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from pydantic import ConfigDict  # noqa: E402


class LakehouseRetriever(BaseRetriever):
    """``Document`` per passage: ``page_content`` is the chunk text, ``id`` the embedding key, ``metadata`` the
    lineage (source table, key, path, span, snapshots, model, run), the score and the snapshot searched."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    search: PassageSearch
    k: int | None = None

    @classmethod
    def from_table(cls, table: Any, column: str = "embedding", **options: Any) -> LakehouseRetriever:
        """A retriever over ``table`` (a name or a ``VectorTable``); options as for :class:`PassageSearch`."""
        return cls(search=PassageSearch(table, column, **options))

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content=p.text, metadata=p.metadata, id=str(p.key)) for p in self.search(query, k=self.k)]
