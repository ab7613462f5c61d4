"""The sweep for optimisations a dead worker left behind: the chunks still incomplete, not
running and not sent recently are sent again (running one again stores only what it lacks)."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.cache import cache
from django.utils import timezone

from strategies.models import Optimisation, OptimisationVariant
from strategies.services.optimisation_runs import chunk_heartbeat_key, finish_if_complete
from strategies.services.optimisations import chunk_enqueued_key, chunks_of, enqueue_chunks

logger = logging.getLogger(__name__)


def incomplete_chunks(run: Optimisation) -> list[tuple[int, int]]:
    """The (fold, chunk)s with variants still missing, and for each walk-forward fold whose
    variants are all in but which was never scored, its first chunk (running it again scores it)."""
    per_fold = run.variants_total // (1 + (run.walk_forward_folds or 0))
    stored: dict[tuple[int, int], int] = {}
    for fold, number in OptimisationVariant.objects.filter(optimisation=run).values_list(
        "fold", "variant_number"
    ):
        key = (fold, number // run.chunk_size)
        stored[key] = stored.get(key, 0) + 1
    scored = set(run.folds.values_list("fold_number", flat=True))
    missing = []
    for fold, chunk in chunks_of(run):
        size = min(run.chunk_size, per_fold - chunk * run.chunk_size)
        if stored.get((fold, chunk), 0) < size:
            missing.append((fold, chunk))
    for fold in range(1, (run.walk_forward_folds or 0) + 1):
        if fold not in scored and not any(f == fold for f, _c in missing):
            missing.append((fold, 0))
    return missing


def recover_optimisations(*, older_than: dt.timedelta = dt.timedelta(minutes=10)) -> list[str]:
    """Beat job: for optimisations pending or running for longer than `older_than` that no worker
    is running right now (no chunk heartbeat), send again every chunk that is incomplete and was
    not sent recently. A worker that died mid-chunk (OOM, machine lost) leaves exactly such a
    chunk; running it again stores only the variants it lacks. While any chunk of an optimisation
    runs, nothing of it is sent again: a chunk queued behind others is not duplicated. An
    optimisation with nothing left to run is finished. Returns "id:fold:chunk" of every chunk
    sent."""
    cutoff = timezone.now() - older_than
    sent = []
    for run in Optimisation.objects.filter(
        status__in=Optimisation.ACTIVE_STATUSES, created_at__lt=cutoff
    ):
        beats = cache.get_many([chunk_heartbeat_key(run.pk, f, c) for f, c in chunks_of(run)])
        if beats:
            continue
        missing = [
            (fold, chunk)
            for fold, chunk in incomplete_chunks(run)
            if cache.get(chunk_enqueued_key(run.pk, fold, chunk)) is None
        ]
        if not missing:
            finish_if_complete(run.pk)
            continue
        if enqueue_chunks(run.pk, missing):
            sent.extend(f"{run.pk}:{fold}:{chunk}" for fold, chunk in missing)
    if sent:
        logger.warning("sent %d optimisation chunks again: %s", len(sent), sent)
    return sent
