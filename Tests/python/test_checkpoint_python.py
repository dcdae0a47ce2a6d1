#!/usr/bin/env python3
"""Reads a published hsnn checkpoint version with plain Python tools.

Checks that an ML engineer needs nothing but `json`, `hashlib` and
`safetensors.numpy.load_file` to use a checkpoint:

* `manifest.json` parses with `json` and has the documented fields;
* every file listed in the manifest exists with the listed size and SHA-256;
* every `*.safetensors` file loads with `safetensors.numpy.load_file`;
* optionally, tensors equal the values given in an expectations JSON file
  ({"file.safetensors": {"tensor": {"dtype": "float32", "shape": [..], "values": [..]}}}).

Usage:
    python3 test_checkpoint_python.py VERSION_DIR [EXPECTED_JSON]
    HSNN_CHECKPOINT_VERSION_DIR=DIR/v00000042 pytest test_checkpoint_python.py

Exit status 0 when every check passes, 1 otherwise (each failure is printed).
"""
import hashlib
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

MANIFEST_FIELDS = [
    "format_version", "version", "parent_version", "created_at", "created_at_unix_ms",
    "configuration", "counters", "offsets", "index_statistics", "metrics", "files",
]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_version(folder, expected=None):
    """Returns a list of problems (empty when the version is fully usable from Python)."""
    problems = []
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    for field in MANIFEST_FIELDS:
        if field not in manifest:
            problems.append(f"manifest lacks '{field}'")
    name = os.path.basename(os.path.normpath(folder))
    if name != "v%08d" % manifest.get("version", -1):
        problems.append(f"manifest version {manifest.get('version')} does not match folder {name}")
    for offset in manifest.get("offsets", []):
        if not {"topic", "partition", "next_offset"} <= set(offset):
            problems.append(f"malformed offset entry {offset}")

    loaded = {}
    for entry in manifest.get("files", []):
        path = os.path.join(folder, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['path']}: missing")
            continue
        size = os.path.getsize(path)
        if size != entry["size"]:
            problems.append(f"{entry['path']}: {size} bytes, manifest says {entry['size']}")
        digest = sha256_of(path)
        if digest != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 {digest} differs from the manifest")
        if entry["path"].endswith(".safetensors"):
            try:
                loaded[entry["path"]] = load_file(path)
            except Exception as error:  # noqa: BLE001 - report any loader failure
                problems.append(f"{entry['path']}: safetensors.numpy.load_file failed: {error}")

    for file_name, tensors in (expected or {}).items():
        if file_name not in loaded:
            problems.append(f"{file_name}: expected but not loaded")
            continue
        for tensor_name, spec in tensors.items():
            array = loaded[file_name].get(tensor_name)
            if array is None:
                problems.append(f"{file_name}:{tensor_name}: missing")
                continue
            if str(array.dtype) != spec["dtype"]:
                problems.append(f"{file_name}:{tensor_name}: dtype {array.dtype}, expected {spec['dtype']}")
            if list(array.shape) != spec["shape"]:
                problems.append(f"{file_name}:{tensor_name}: shape {list(array.shape)}, expected {spec['shape']}")
            values = np.asarray(spec["values"], dtype=array.dtype).reshape(spec["shape"])
            if not np.array_equal(array, values):
                problems.append(f"{file_name}:{tensor_name}: values differ")

    tensor_count = sum(len(t) for t in loaded.values())
    print(f"{name}: {len(manifest.get('files', []))} files checked, {tensor_count} tensors loaded, "
          f"{len(problems)} problems")
    return problems


def test_published_checkpoint():
    """pytest entry: checks the version folder named by HSNN_CHECKPOINT_VERSION_DIR."""
    import pytest

    folder = os.environ.get("HSNN_CHECKPOINT_VERSION_DIR")
    if not folder:
        pytest.skip("set HSNN_CHECKPOINT_VERSION_DIR to a published version folder")
    expected_path = os.environ.get("HSNN_CHECKPOINT_EXPECTED")
    expected = json.load(open(expected_path, encoding="utf-8")) if expected_path else None
    assert check_version(folder, expected) == []


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    expected = None
    if len(argv) == 3:
        with open(argv[2], encoding="utf-8") as f:
            expected = json.load(f)
    problems = check_version(argv[1], expected)
    for problem in problems:
        print("FAIL", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
