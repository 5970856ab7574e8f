"""The product type a Chinese query names (保温杯; 放鞋的柜子 → 鞋柜), and which products are it."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import rjieba

from sourcing.retrieval.bridge import description, descriptive_compounds
from sourcing.retrieval.lexical import has_cjk

SHORTEST_TYPE = 2  # one character (杯, 包) names too many kinds of thing


@dataclass(frozen=True)
class ProductType:
    """The type a query's head word names, as the catalog writes it."""

    names: tuple[str, ...]  # the head word, or a description's compounds, most used first

    @property
    def label(self) -> str:
        return self.names[0]

    @classmethod
    def of(cls, text: str, uses: Callable[[str], int]) -> ProductType | None:
        """A Chinese noun phrase names its type last: 不锈钢保温杯 is a 保温杯. A description
        "X的Y" heads with a class (机器, 衣服) too broad to hold to: its type is what the
        catalog calls it (磨豆浆的机器 → 豆浆机), if anything. Only words some product uses
        count; an all-Latin query names none here."""
        if not has_cjk(text):
            return None
        if description(text) is not None:
            names = descriptive_compounds(text, uses)
        else:
            words = [w for w in rjieba.cut(text) if len(w) >= SHORTEST_TYPE and has_cjk(w)]
            # the catalog's own word or none: a synonym drifts (狗链子: 链子 → 链条, chain bags)
            names = [words[-1]] if words and uses(words[-1]) else []
        return cls(names=tuple(names)) if names else None

    def covers(self, title: str, category_path: str = "") -> bool:
        """Whether a level of the product's category (玩具/积木 is a 玩具) or a word of its
        title (液晶电视机 is a 电视机) ends in one of the names. jieba cuts a part off the
        thing it belongs to (保温杯/套), so a title can make an accessory pass for the type."""
        levels = [level for level in category_path.split("/") if level]
        words = rjieba.cut(unicodedata.normalize("NFKC", title).lower())
        return any(word.endswith(self.names) for word in [*levels, *words])
