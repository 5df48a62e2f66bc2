"""Training windows from an archive: the recordings an importer lists, chosen by subject and
split before any file is read (the `train` and `train-tokens` commands; encoders.pretrain's
VirtualImuSource is the other source, motion capture worn by virtual IMUs)."""
from __future__ import annotations

from dataclasses import dataclass

from encoders.config import EncoderConfig
from encoders.data import TextAlignedSet, model_windows, paired_windows
from encoders.token_data import TokenPairs, token_pairs
from indexer.model import Entry


@dataclass
class ArchiveSource:
    """The `entries` of an archive (`name`: its folder, or "demo"; `format`: the importer) and
    the selection they were chosen by: `subjects` minus `exclude`, the `split`, the `labels`
    text-aligned training keeps (a zero-shot split) and, for token training, `concat` (each
    subject's clips joined into one stream per placement)."""

    entries: list[Entry]
    name: str
    format: str
    subjects: set[str] | None = None
    exclude: set[str] | None = None
    split: str | None = None
    labels: set[str] | None = None
    concat: bool = False
    progress: bool = True

    def read(self, config: EncoderConfig, model) -> TextAlignedSet | TokenPairs:
        if config.is_tokens:
            return token_pairs(self.entries, config, self.subjects, self.concat, progress=self.progress,
                               exclude=self.exclude)
        if config.text:
            return model_windows(self.entries, config, model, self.subjects, self.labels, progress=self.progress,
                                 exclude=self.exclude)
        return paired_windows(self.entries, config.window, config.rates, self.subjects, progress=self.progress,
                              exclude=self.exclude, config=config)

    def record(self, config: EncoderConfig, data) -> dict:
        selection = {"exclude_subjects": sorted(self.exclude or []), "split": self.split}
        facts = {"source": self.name, "format": self.format}
        if isinstance(data, TokenPairs):
            return {**facts, "subjects": sorted({r.subject for r in data.recordings}), **selection,
                    "concat": bool(self.concat), "seconds": round(data.seconds, 1)}
        facts.update(selection, subjects=sorted(set(data.subjects)), windows=len(data),
                     placements=sorted(p for p in set(data.placements) if p))
        if config.text:
            facts.update(pairs=data.pair_counts(), labels=sorted(set(c for c in data.captions if c)))
        return facts
