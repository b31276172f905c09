"""Cheap facts about a corpus directory (a DatasetDict saved with save_to_disk) for validating a space:
its splits and the clip count per language of one split, read from the Arrow files' `language` column only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


class DataProblem(ValueError):
    """The data directory lacks something the space needs (message names what)."""


def split_names(data_dir: Path) -> list[str]:
    index = data_dir / "dataset_dict.json"
    try:
        return list(json.loads(index.read_text(encoding="utf-8"))["splits"])
    except OSError:
        raise DataProblem(f"{data_dir} is not a dataset saved with save_to_disk (no dataset_dict.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DataProblem(f"{index} is not a valid dataset index") from None


def language_counts(data_dir: Path, split: str) -> Counter[str]:
    """Clips per language in `split`, reading only the `language` column of its Arrow files."""
    import pyarrow as pa

    folder = data_dir / split
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        files = [folder / entry["filename"] for entry in state["_data_files"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise DataProblem(f"{folder} is not a saved dataset split (no readable state.json)") from None
    counts: Counter[str] = Counter()
    for file in files:
        try:
            with pa.memory_map(str(file)) as source:
                reader = pa.ipc.open_stream(source)
                if "language" not in reader.schema.names:
                    raise DataProblem(f"the {split} split of {data_dir} has no 'language' column")
                for batch in reader:
                    counts.update(batch.column("language").to_pylist())
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataProblem(f"cannot read {file} ({exc})") from None
    return counts
