"""A LlamaIndex retriever over a lakehouse embeddings table (``pip install 'lakehouse[llamaindex]'``).

Example::

    from lakehouse.integrations.llamaindex import LakehouseLlamaRetriever

    retriever = LakehouseLlamaRetriever.from_table("docs.embeddings", k=4)
    nodes = retriever.retrieve("how do I vacuum a table")
    nodes[0].score, nodes[0].node.text, nodes[0].node.metadata["source_key"]
"""

from __future__ import annotations

from typing import Any

from lakehouse.integrations.passages import PassageSearch, require

require("llama_index.core", "llamaindex")

from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402


class LakehouseLlamaRetriever(BaseRetriever):
    """``NodeWithScore`` per passage: a ``TextNode`` (id = embedding key, text = chunk text, ``start_char_idx`` /
    ``end_char_idx`` = the span in the source text, metadata = lineage and snapshot) and the score. A query bundle
    that carries an embedding is searched with it (no second embedding of the text)."""

    def __init__(self, search: PassageSearch, *, k: int | None = None, **kwargs: Any) -> None:
        self._search = search
        self._k = k
        super().__init__(**kwargs)

    @classmethod
    def from_table(cls, table: Any, column: str = "embedding", **options: Any) -> LakehouseLlamaRetriever:
        """A retriever over ``table`` (a name or a ``VectorTable``); options as for :class:`PassageSearch`."""
        return cls(PassageSearch(table, column, **options))

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = query_bundle.embedding if query_bundle.embedding else None
        out = []
        for p in self._search(query_bundle.query_str, k=self._k, vector=vector):
            node = TextNode(
                id_=str(p.key),
                text=p.text,
                metadata=p.metadata,
                start_char_idx=p.metadata.get("chunk_start"),
                end_char_idx=p.metadata.get("chunk_end"),
            )
            out.append(NodeWithScore(node=node, score=p.score))
        return out
