"""Whether the words of a text prompt can tell a direction apart on this index.

    direction_check(ix, "right arm swipe to the left", "imu")
    # -> {"prompt": ..., "opposite": "right arm swipe to the right", "shared": 8, "of": 10, "cosine": 0.99}

A frozen sentence model hardly reads direction words: "swipe to the left" and "swipe to the
right" embed to vectors with a cosine near 0.99, and their searches return mostly the same
windows. The check searches the prompt with one direction word swapped at a time (`opposites`)
and counts the windows the two searches share; when the opposite's search finds mostly the
prompt's own hits, the words did not pick a direction here. Taught concepts (query.concepts)
are exempt: their direction lies in their examples, not their words.
"""
from __future__ import annotations

import re

import numpy as np

from query import concepts, text_aligned
from query.searcher import Searcher

# The check fires when at least this share of the opposite's hits are the prompt's own hits ...
SHARED = 0.5
# ... and the k hits are at most this share of the windows searched: were they more, two searches
# would share many hits by chance alone (k of N, on average k/N of them)
MAX_COVER = 0.25

_PAIRS = [("left", "right"), ("forward", "backward"), ("forwards", "backwards")]
_COUNTER = ("counterclockwise", "counter clockwise", "counter-clockwise", "anticlockwise", "anti-clockwise")
_SWAP = {a: b for x, y in _PAIRS for a, b in ((x, y), (y, x))}
_SWAP.update({"clockwise": "counterclockwise", **{c: "clockwise" for c in _COUNTER}})
# longest spellings first, so "counter clockwise" is one word here, not "counter" + "clockwise"
_WORDS = re.compile(r"\b(" + "|".join(map(re.escape, sorted(_SWAP, key=len, reverse=True))) + r")\b", re.IGNORECASE)
_TO = re.compile(r"^(\S.*?)\s+to\s+(\S.*)$", re.IGNORECASE)


def _case_like(old: str, new: str) -> str:
    """`new` written in `old`'s case: all capitals, or its first letter's."""
    if len(old) > 1 and old.isupper():
        return new.upper()
    return (new[:1].upper() if old[:1].isupper() else new[:1].lower()) + new[1:]


def opposites(prompt: str) -> list[str]:
    """The prompt with one direction word swapped at a time (left/right, clockwise/counterclockwise
    in its spellings, forward(s)/backward(s); whole words, the first letter's case kept), or, for
    a prompt "<A> to <B>" with no direction word (e.g. "sit to stand"), "<B> to <A>". Up/down is
    not swapped: "stands up" would become "stands down". Without duplicates or the prompt itself."""
    text = " ".join(str(prompt or "").split())
    out = []
    for m in _WORDS.finditer(text):
        word = m.group(0)
        out.append(text[:m.start()] + _case_like(word, _SWAP[word.lower()]) + text[m.end():])
    if not out and (m := _TO.match(text)) and len(re.findall(r"\bto\b", text, re.IGNORECASE)) == 1:
        first, second = m.group(1), m.group(2)
        out.append(f"{_case_like(first, second)} {text[m.end(1):m.start(2)].strip()} {_case_like(second, first)}")
    return [o for o in dict.fromkeys(out) if o.casefold() != text.casefold()]


def direction_check(searcher: Searcher, prompt: str, target: str, k: int = 10, where: str | None = None,
                    encoder_id: str | None = None, templates: bool = True) -> dict | None:
    """{"prompt", "opposite", "shared", "of", "cosine"} when the text search of an opposite of
    `prompt` (`opposites`) finds mostly the prompt's own hits: of its `of` top windows (k, or
    fewer where the filter admits fewer), `shared` are among the prompt's top k, and shared/of
    >= SHARED; the opposite reported is the one sharing the most, `cosine` that of the two text
    vectors. None when no opposite does so, the prompt has no opposite or names a taught concept,
    its search found fewer than 2 windows, or its hits are more than MAX_COVER of the windows
    searched (then many would be shared by chance). The searches are query.text_aligned.search_text's,
    with the same target, filter, encoder, k and templates as the prompt's own, and without the
    expansion by the first hits (`expand=False`): the check is about the words, and two expanded
    searches drift toward the same windows whatever the words say."""
    others = opposites(prompt)
    if not others or concepts.find(searcher, prompt) is not None:
        return None
    modalities = text_aligned.modalities_of(target)
    picked = {m: searcher.pick_encoder_id("text", m, encoder_id) for m in modalities}
    if len(modalities) == 1:  # several: each modality searched by its own encoder, as the search does
        encoder_id = picked[modalities[0]]
    mine = text_aligned.search_text(searcher, prompt, target, k, where, encoder_id, templates, expand=False)
    searched = max(searcher.searched_count(e, m, where) for m, e in picked.items())
    if mine.height < 2 or mine.height > MAX_COVER * searched:
        return None
    own = set(mine["window_id"].to_list())
    best = None
    for other in others:
        ids = text_aligned.search_text(searcher, other, target, k, where, encoder_id, templates,
                                       expand=False)["window_id"].to_list()
        shared = len(own.intersection(ids))
        if ids and (best is None or shared / len(ids) > best[1] / best[2]):
            best = (other, shared, len(ids))
    if best is None or best[1] / best[2] < SHARED:
        return None
    texts = [prompt.strip(), best[0]] if templates else [prompt, best[0]]
    vecs = searcher.encode_text(texts, picked[modalities[0]], templates=templates, modality=modalities[0])
    return {"prompt": prompt.strip(), "opposite": best[0], "shared": best[1], "of": best[2],
            "cosine": round(float(np.dot(vecs[0], vecs[1])), 4)}


def note(check: dict | None) -> str:
    """The check as one plain sentence for a terminal ("" when it did not fire)."""
    if not check:
        return ""
    return (f'note: the words barely tell "{check["prompt"]}" from "{check["opposite"]}" here: that prompt finds '
            f'{check["shared"]} of the same {check["of"]} windows; to find one direction, teach it by example '
            "(query teach)")
