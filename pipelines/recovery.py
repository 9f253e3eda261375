"""What a killed sync left behind, finished or discarded exactly once before a sync extracts.

dlt moves a load package through folders by renames: extracted (`normalize/extracted`),
normalized (`load/normalized`), loaded (`load/loaded`). A kill between two of its steps can
leave the same package in two places, or a loaded package not yet moved. `tidy_packages`
settles those from the folders alone; `finish_pending` then loads what is left, or, when it
cannot be loaded, aborts it with dlt's own `abort_packages`, which also puts the local state
(cursors) back to where the aborted package started. Either way cursors move only together
with the rows they describe.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

logger = logging.getLogger("labsync")

COMPLETED_MARKER = "package_completed.json"  # dlt writes it once a package's load committed


def _packages(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


def tidy_packages(pipeline_dir: Path) -> list[str]:
    """Settle packages a kill left between two of dlt's renames; what was done, per package."""
    extracted_dir = pipeline_dir / "normalize" / "extracted"
    new_dir, normalized_dir, loaded_dir = (
        pipeline_dir / "load" / name for name in ("new", "normalized", "loaded")
    )
    done: list[str] = []
    loaded = _packages(loaded_dir)
    for load_id in sorted(_packages(normalized_dir)):
        package = normalized_dir / load_id
        if load_id in loaded:  # normalized again after it loaded: the loaded copy stands
            shutil.rmtree(package)
            done.append(f"removed a second copy of loaded package {load_id}")
        elif (package / COMPLETED_MARKER).exists():  # committed, killed before the move
            package.rename(loaded_dir / load_id)
            loaded.add(load_id)
            done.append(f"completed the move of loaded package {load_id}")
    normalized = _packages(normalized_dir) | loaded
    for load_id in sorted(_packages(extracted_dir) & normalized):
        # normalize committed its output, then was killed before deleting its input
        shutil.rmtree(extracted_dir / load_id)
        done.append(f"removed the extracted copy of normalized package {load_id}")
    for load_id in sorted(_packages(new_dir) & normalized):
        shutil.rmtree(new_dir / load_id)
    # every extract writes into a folder of its own and renames it into `extracted` when
    # complete; any other folder is an extract that was killed (its state was never saved)
    normalize_dir = pipeline_dir / "normalize"
    for folder in sorted(_packages(normalize_dir) - {"extracted"}):
        shutil.rmtree(normalize_dir / folder)
        done.append(f"discarded an interrupted extract ({folder})")
    return done


def finish_pending(pipeline: dlt.Pipeline) -> list[str]:
    """Load the packages an interrupted sync left, or abort them when they cannot load.

    Raises `PipelineStepFailed` when neither works (the source must not extract on top).
    """
    done = tidy_packages(Path(pipeline.working_dir))
    if not pipeline.has_pending_data:
        return done
    load_ids = pipeline.list_extracted_load_packages() + pipeline.list_normalized_load_packages()
    try:
        pipeline.normalize()
        pipeline.load()
    except PipelineStepFailed as exc:
        logger.warning(
            "%s: pending package %s does not load (%s); aborting it",
            pipeline.pipeline_name,
            exc.load_id,
            exc.exception,
        )
        pipeline.abort_packages()
        return [*done, f"aborted pending packages {', '.join(sorted(set(load_ids)))}"]
    return [*done, f"loaded pending packages {', '.join(sorted(set(load_ids)))}"]


def pending_work(pipeline_dir: Path) -> list[str]:
    """What a crashed sync left in one pipeline's folder (empty when nothing)."""
    found = []
    extracted = _packages(pipeline_dir / "normalize" / "extracted")
    normalized = _packages(pipeline_dir / "load" / "normalized")
    interrupted = _packages(pipeline_dir / "normalize") - {"extracted"}
    if extracted:
        found.append(f"{len(extracted)} extracted package(s) not loaded")
    if normalized:
        found.append(f"{len(normalized)} normalized package(s) not loaded")
    if interrupted:
        found.append(f"{len(interrupted)} interrupted extract(s)")
    return found
