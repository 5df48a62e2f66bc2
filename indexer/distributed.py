"""Reading, windowing and embedding a build on a Ray cluster (Ray Data), writing locally.

`python -m indexer build ... --ray [--ray-address ADDR]` hands the recordings to Ray Data as a
dataset of entries and runs two `map_batches` stages on the cluster: read + window
(`indexer.reading.read_and_cut`, stateless tasks, CHUNK recordings a batch) and embed (one
actor per model replica holding the encoder, EMBED_RECORDINGS recordings a batch). The driver
takes the embedded recordings back in the archive's order and writes them through the same
code as a local build (`indexer.build`), so window ids, rows and vectors equal a local build's,
and the commit log, crash cleanup and writer lock work as they do there.

The nodes must be able to import motionsearch (`pip install 'motionsearch[scale]'` on each)
and read the archive's files at the paths the listing names (a shared file system, or the
archive on every node). Without ADDR, a local Ray instance is started (or the one this process
already joined is used); `ray://HOST:10001` reaches a remote cluster through Ray Client.
"""
from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from indexer.imports import optional
from indexer.model import Entry
from indexer.reading import CHUNK, Cut, Reader, embed_cuts, read_and_cut

EMBED_RECORDINGS = 64  # recordings per embedding batch on the cluster (each of a few windows or many)


def _read_batch(batch: dict, reader: Reader) -> dict:
    cuts = [read_and_cut(pickle.loads(e), reader) for e in batch["entry"]]
    return {"i": batch["i"], "cut": [pickle.dumps(c) for c in cuts]}


class _Embed:
    """The embedding stage: one actor keeps the encoder loaded and embeds batch after batch."""

    def __init__(self, encoder):
        self.encoder = encoder

    def __call__(self, batch: dict) -> dict:
        cuts = [pickle.loads(c) for c in batch["cut"]]
        embed_cuts(self.encoder, cuts)
        return {"i": batch["i"], "cut": [pickle.dumps(c) for c in cuts]}


@dataclass
class RayRunner:
    """Where the Ray stages run: `address` (None: a local instance, or the one already joined;
    "auto", "ray://HOST:PORT", ...), with `replicas` embedding actors (each `cpus_per_replica`
    CPUs, `gpus_per_replica` GPUs)."""

    address: str | None = None
    replicas: int = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0

    def start(self):
        """Join the cluster (or start a local instance) unless this process already has; returns
        the `ray` module. Done before the index is opened where possible: Ray starts its
        processes before LanceDB's runtime exists."""
        ray = optional("ray", "scale", "building with --ray")
        optional("ray.data", "scale", "building with --ray")
        if not ray.is_initialized():
            with warnings.catch_warnings():  # Ray forks and at once execs its processes: no LanceDB runs there
                warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
                ray.init(address=self.address, log_to_driver=False)
        return ray

    def embedded(self, entries: list[Entry], reader: Reader, encoder) -> Iterator[Cut]:
        """The Cuts of `entries`, read, windowed and embedded on the cluster, in order."""
        if not entries:
            return
        ray = self.start()
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # window ids follow the archive's order
        context.enable_progress_bars = False
        items = [{"i": i, "entry": pickle.dumps(e)} for i, e in enumerate(entries)]
        ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // CHUNK, 200)))
        ds = ds.map_batches(_read_batch, batch_size=CHUNK, fn_kwargs={"reader": reader}, num_cpus=1)
        ds = ds.map_batches(_Embed, batch_size=EMBED_RECORDINGS, fn_constructor_args=(encoder,),
                            compute=ray.data.ActorPoolStrategy(size=self.replicas), num_cpus=self.cpus_per_replica,
                            num_gpus=self.gpus_per_replica)
        waiting: dict[int, Cut] = {}
        expected = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i, blob in zip(batch["i"], batch["cut"]):
                waiting[int(i)] = pickle.loads(blob)
            while expected in waiting:  # in order even if a stage hands batches back out of it
                yield waiting.pop(expected)
                expected += 1
        if expected != len(entries):
            raise RuntimeError(f"the Ray build returned {expected} of {len(entries)} recordings")
