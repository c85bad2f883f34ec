"""FsspecObjectStore: one suite, run on a local root and on S3 (a moto server on 127.0.0.1).

Every test gets a fresh, empty store plus a ``Backend`` that can write, delete and
list *around* the store (a plain file system, or boto3 on the whole bucket), so the
tests can check what reached the medium, and that other clients' writes are seen.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.errors import InvalidInput, NotFound, StoreError, VigilError
from vigil.store.objects import FsspecObjectStore

BUCKET = "vigil-objects-test"


@dataclass
class Backend:
    name: str
    store: FsspecObjectStore
    write_raw: Callable[[str, bytes], None]  # key relative to the store root, written by another client
    delete_raw: Callable[[str], None]
    medium: Callable[[], dict[str, object]]  # everything on the medium (root and around it) -> content


@pytest.fixture(scope="module")
def s3_endpoint():
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    with pytest.MonkeyPatch.context() as mp:
        # region via the environment: region_name in s3fs client_kwargs breaks bucket creation
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            client = boto3.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket=BUCKET)
            yield endpoint, client
        finally:
            server.stop()


def _local_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "root"
    sibling = tmp_path / "root2"  # shares the root's name as a prefix: must never be touched
    sibling.mkdir()
    (sibling / "keep.bin").write_bytes(b"keep")

    def write_raw(key: str, data: bytes) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def medium() -> dict[str, object]:
        found: dict[str, object] = {}
        for dirpath, dirnames, filenames in os.walk(tmp_path):
            for d in dirnames:
                found[os.path.relpath(os.path.join(dirpath, d), tmp_path) + "/"] = b""
            for f in filenames:
                path = os.path.join(dirpath, f)
                found[os.path.relpath(path, tmp_path)] = Path(path).read_bytes()
        return found

    return Backend("file", FsspecObjectStore(f"file://{root}"), write_raw,
                   lambda key: (root / key).unlink(), medium)


def _s3_backend(endpoint: str, client) -> Backend:
    prefix = f"t-{uuid.uuid4().hex[:12]}"  # a fresh root per test in the shared bucket
    client.put_object(Bucket=BUCKET, Key=f"{prefix}2/keep.bin", Body=b"keep")  # sibling root
    store = FsspecObjectStore(
        f"s3://{BUCKET}/{prefix}",
        options={"client_kwargs": {"endpoint_url": endpoint}, "key": "testing", "secret": "testing"},
    )

    def medium() -> dict[str, object]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {obj["Key"]: obj["ETag"] for page in pages for obj in page.get("Contents", [])}

    return Backend(
        "s3", store,
        lambda key, data: client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=data),
        lambda key: client.delete_object(Bucket=BUCKET, Key=f"{prefix}/{key}"),
        medium,
    )


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "file":
        return _local_backend(tmp_path)
    endpoint, client = request.getfixturevalue("s3_endpoint")
    return _s3_backend(endpoint, client)


@pytest.fixture
def store(backend) -> FsspecObjectStore:
    return backend.store


# -- bytes in, bytes out ------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x00", bytes(range(256)) * 3, os.urandom(5 * 2**20)],
                         ids=["empty", "nul", "all-bytes", "5MB"])
def test_put_get_round_trip(store, data):
    assert store.put("blob.bin", data) == "blob.bin"
    assert store.get("blob.bin") == data
    assert store.list() == ["blob.bin"]


def test_nested_keys(store):
    keys = ["a/b/c/d.bin", "a/b/e.bin", "a/f", "g h/é/v1.0"]
    for i, key in enumerate(keys):
        store.put(key, str(i).encode())
    assert [store.get(k) for k in keys] == [b"0", b"1", b"2", b"3"]
    assert store.list() == sorted(keys)


def test_overwrite_replaces_content_and_leaves_one_object(store):
    store.put("m/model.bin", b"first version, long")
    store.put("m/model.bin", b"v2")
    assert store.get("m/model.bin") == b"v2"
    assert store.list() == ["m/model.bin"]


def test_long_keys_up_to_the_limit_round_trip(store):
    # a 255-character last segment: the longest file name ext4 allows, so the temp file
    # written before the atomic rename must not be named after the key
    key = "k" * 255
    store.put(key, b"x")
    assert store.get(key) == b"x"
    assert store.list() == [key]


def test_get_missing_key_raises_not_found(store):
    with pytest.raises(NotFound, match="'nope/x'") as info:
        store.get("nope/x")
    assert isinstance(info.value, LookupError)


def test_get_of_a_folder_is_not_found_not_a_store_error(store):
    store.put("dir/obj", b"1")
    with pytest.raises(NotFound):
        store.get("dir")


def test_exists(store):
    assert not store.exists("e/x")
    store.put("e/x", b"1")
    assert store.exists("e/x")
    assert not store.exists("e/y")
    store.delete(["e/x"])
    assert not store.exists("e/x")


def test_delete_several_keys_and_ignore_missing_ones(store):
    for key in ["d/1", "d/2", "d/3", "keep"]:
        store.put(key, b"x")
    store.delete(["d/1", "d/3", "never/written", "d"])  # "d" is a folder, not an object
    assert store.list() == ["d/2", "keep"]
    store.delete([])
    assert store.list() == ["d/2", "keep"]


def test_delete_prefix_removes_exactly_that_prefix(store):
    for key in ["a/1", "a/b/2", "a/b/c/3", "a2/4", "ab", "b/a/5"]:
        store.put(key, b"x")
    store.delete_prefix("a")
    assert store.list() == ["a2/4", "ab", "b/a/5"]
    store.delete_prefix("b/a")
    assert store.list() == ["a2/4", "ab"]
    store.delete_prefix("missing/prefix")  # no error
    assert store.list() == ["a2/4", "ab"]


def test_list_returns_sorted_keys_relative_to_the_root(store):
    for key in ["b/2", "a/1", "c", "b/10", "a/0/z"]:
        store.put(key, b"x")
    assert store.list() == ["a/0/z", "a/1", "b/10", "b/2", "c"]
    assert store.list("b") == ["b/10", "b/2"]
    assert store.list("a/0") == ["a/0/z"]
    assert store.list("zzz") == []
    assert all(store.get(k) == b"x" for k in store.list())


def test_empty_store_lists_nothing(store):
    assert store.list() == []
    assert not store.exists("x")


def test_writes_and_deletes_by_other_clients_are_seen(backend):
    """s3fs caches listings per process: the store must not answer from a stale cache."""
    store = backend.store
    store.put("c/mine", b"1")
    assert store.list() == ["c/mine"] and store.list("c") == ["c/mine"]  # listings now cached
    assert not store.exists("c/theirs")

    backend.write_raw("c/theirs", b"2")
    backend.write_raw("top", b"3")
    assert store.exists("c/theirs") and store.exists("top")
    assert store.get("c/theirs") == b"2"
    assert store.list() == ["c/mine", "c/theirs", "top"]

    backend.delete_raw("c/mine")
    assert not store.exists("c/mine")
    with pytest.raises(NotFound):
        store.get("c/mine")
    assert store.list("c") == ["c/theirs"]


def test_concurrent_writers_of_one_key(store):
    payloads = [bytes([i]) * 1000 for i in range(4)]

    def write(data: bytes) -> None:
        for _ in range(5):
            store.put("race/key", data)

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        for future in [pool.submit(write, p) for p in payloads]:
            future.result()  # re-raises a writer's error
    assert store.get("race/key") in payloads
    assert store.list() == ["race/key"]  # no temp files left behind or listed


# -- keys that try to leave the root --------------------------------------------------------------

HOSTILE_KEYS = [
    "..", "../x", "a/../../x", "a/..", ".", "a/./b", "./a",
    "/abs", "/", "a/", "a//b", "",
    "a\\b", "..\\x", "%2e%2e/x", "%2fetc", "a\x00b", "a\nb", "C:x", "C:\\x", "~/x",
    " a", "a ", "x" * 1025, "a/" + "b" * 1030,
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_hostile_keys_are_refused_by_every_method_and_write_nothing(backend, key):
    store = backend.store
    store.put("inside", b"1")
    before = backend.medium()
    calls = {
        "put": lambda: store.put(key, b"evil"),
        "get": lambda: store.get(key),
        "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(["inside", key]),  # validated before anything is deleted
        "delete_prefix": lambda: store.delete_prefix(key),
        "list": lambda: store.list(key) if key else store.list("/"),
    }
    for method, call in calls.items():
        with pytest.raises(InvalidInput, match="key") as info:
            call()
        assert isinstance(info.value, ValueError), method
    assert backend.medium() == before
    assert store.list() == ["inside"]


@pytest.mark.parametrize("key", [None, 3, b"a", ["a"]], ids=repr)
def test_non_string_keys_are_refused(store, key):
    with pytest.raises(InvalidInput):
        store.put(key, b"x")


def test_put_through_a_symlink_to_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "flink").symlink_to(outside / "target")  # dangling: put would create it
    store = FsspecObjectStore(f"file://{root}")

    for key in ["link/evil", "link/secret", "link/new/dir/x", "flink"]:
        with pytest.raises(InvalidInput, match="inside the object root"):
            store.put(key, b"evil")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"
    with pytest.raises(InvalidInput):
        store.get("link/secret")
    with pytest.raises(InvalidInput):
        store.delete_prefix("link")
    assert (outside / "secret").exists()
    assert store.list() == []  # links leading out are not offered as keys either


def test_symlinked_root_is_resolved(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    store = FsspecObjectStore(f"file://{tmp_path / 'alias'}")
    store.put("a/b", b"1")
    assert (real / "a" / "b").read_bytes() == b"1"
    assert store.list() == ["a/b"]


def test_filesystem_root_is_slash_not_the_working_directory(tmp_path):
    target = tmp_path / "obj.bin"
    target.write_bytes(b"here")
    store = FsspecObjectStore("file:///")
    assert store.root == "/"
    key = str(target.resolve()).lstrip("/")
    assert store.exists(key)
    assert store.get(key) == b"here"


def test_write_failure_is_a_store_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_bytes(b"x")
    store = FsspecObjectStore(f"file://{root}")
    with pytest.raises(StoreError, match="cannot write 'file/child'"):
        store.put("file/child", b"y")  # a parent that is a file


def test_unknown_protocol_is_invalid_input():
    with pytest.raises(InvalidInput, match="url"):
        FsspecObjectStore("nosuchprotocol://bucket/x")


def test_errors_share_the_vigil_root(store):
    with pytest.raises(VigilError):
        store.get("missing")
    with pytest.raises(VigilError):
        store.put("..", b"")
