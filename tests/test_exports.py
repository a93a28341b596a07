"""Partner exports (issue #6): specs, tokens, storage, and the exporter against a real local S3 server.

The S3 tests talk HTTP to moto's standalone server (tests/s3server.py) through boto3, and check
results with plain boto3 + hashlib + pyarrow, independently of the exporter's own read-back code.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import warnings
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lake.scores import SCORES_COLUMNS, ScoresContractError, conform_scores_table, scores_path, validate_scores_schema
from exports.exporter import (ExportError, ExportVerificationError, check_published, export_partition, manifest_key,
                              staging_prefix,
                              partition_prefix, read_export)
from exports.fake import fake_scores, write_scores
from exports.spec import SPECS_DIR, SpecError, check_isolation, load_spec, load_specs
from exports.storage import BucketNotFound, LocalFolderStore, S3Store
from exports.tokens import DEV_EXPORT_TOKEN_KEY, export_token_key, partner_key, partner_token, token_sql
from tests.s3server import all_keys

DAY = "2026-03-01"
KEY = "test-export-key"
N_CUSTOMERS = 3000


@pytest.fixture(scope="module")
def scores() -> pa.Table:
    return fake_scores(N_CUSTOMERS, DAY, seed=11)


@pytest.fixture
def specs(monkeypatch, s3_bucket):
    """The shipped specs, pointed at the test bucket through EXPORT_BUCKET, split into small parts."""
    monkeypatch.setenv("EXPORT_BUCKET", s3_bucket)
    return {s.partner_id: dataclasses.replace(s, max_rows_per_file=7 if s.label == "c_card" else 150) for s in load_specs()}


def export(spec, store, scores, **kw):
    return export_partition(spec, DAY, store, scores=scores, token_key=KEY, **kw)


def download(client, bucket, key) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def decode(data: bytes, manifest: dict) -> pa.Table:
    if manifest["format"] == "csv":
        raw = gzip.decompress(data) if manifest["compression"] == "gzip" else data
        return pacsv.read_csv(io.BytesIO(raw))
    return pq.read_table(io.BytesIO(data))


def partner_download(client, bucket, spec) -> tuple[dict, pa.Table, list[str]]:
    """What a partner does: list the partition, read the manifest, fetch and check every file."""
    prefix = partition_prefix(spec, DAY)
    keys = [k for k in all_keys(client, bucket) if k.startswith(prefix)]
    manifest = json.loads(download(client, bucket, prefix + "manifest.json"))
    assert sorted(keys) == sorted([prefix + "manifest.json"] + [prefix + f["name"] for f in manifest["files"]])
    tables = []
    for f in manifest["files"]:
        data = download(client, bucket, prefix + f["name"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
        t = decode(data, manifest)
        assert t.num_rows == f["rows"] <= spec.max_rows_per_file
        assert t.column_names == [c["name"] for c in manifest["columns"]]
        tables.append(t.cast(tables[0].schema) if tables else t)
    table = pa.concat_tables(tables)
    assert table.num_rows == manifest["row_count"]
    return manifest, table, keys


def expected_rows(scores: pa.Table, spec) -> pa.Table:
    mask = pc.and_(pc.equal(scores["partner_id"], spec.partner_id), pc.equal(scores["label"], spec.label))
    return scores.filter(mask)


# ---------------------------------------------------------------------------------------------- specs

def test_shipped_specs_load_and_are_isolated(monkeypatch):
    monkeypatch.delenv("EXPORT_BUCKET", raising=False)
    specs = load_specs()
    assert len(specs) >= 4
    assert sorted({s.partner_id for s in specs}) == ["PB01", "PB02", "PB03", "PB04"]
    assert len({s.prefix for s in specs}) == len(specs)
    assert {s.format for s in specs} == {"csv", "parquet"}
    for s in specs:
        assert "customer_token" in [c.source for c in s.columns]
        assert "customer_id" not in [c.source for c in s.columns] + [c.name for c in s.columns]
        assert s.bucket == "risk-partner-exports"                      # the default of ${EXPORT_BUCKET:-...}
    monkeypatch.setenv("EXPORT_BUCKET", "other-bucket")
    assert {s.bucket for s in specs} == {"other-bucket"}                  # resolved at export time


GOOD_SPEC = """\
name: pbx_test
partner_id: PB01
population: {partner_column: partner_id}
model: {name: a_card_lightgbm, label: a_card, version: champion}
columns: [customer_token, score, grade]
file: {format: csv, compression: gzip, max_rows_per_file: 1000}
schedule: {cron: "30 7 * * *"}
destination: {bucket: my-bucket, prefix: partners/PB01/x}
"""

BAD_SPECS = {
    "unknown column": (("columns: [customer_token, score, grade]", "columns: [customer_token, score, credit_limit]"), "columns[2]", "unknown column 'credit_limit'"),
    "internal id": (("columns: [customer_token, score, grade]", "columns: [customer_token, customer_id]"), "columns[1]", "never leaves"),
    "renamed internal id": (("columns: [customer_token, score, grade]", "columns: [customer_token, {source: customer_id, name: cid}]"), "columns[1]", "cannot be exported"),
    "no token": (("columns: [customer_token, score, grade]", "columns: [score, grade]"), "columns", "customer_token"),
    "duplicate output": (("columns: [customer_token, score, grade]", "columns: [customer_token, score, {source: grade, name: score}]"), "columns", "duplicate"),
    "format": (("format: csv", "format: xlsx"), "file.format", "unknown format 'xlsx'"),
    "compression": (("compression: gzip", "compression: zstd"), "file.compression", "not available for csv"),
    "part size": (("max_rows_per_file: 1000", "max_rows_per_file: 0"), "file.max_rows_per_file", "integer"),
    "label": (("label: a_card", "label: d_card"), "model.label", "unknown label 'd_card'"),
    "missing model": (("model: {name: a_card_lightgbm, label: a_card, version: champion}\n", ""), "model", "missing"),
    "partner column": (("{partner_column: partner_id}", "{partner_column: customer_id}"), "population.partner_column", "not a partner column"),
    "cron": (('"30 7 * * *"', '"*/5 * * * *"'), "schedule.cron", "daily cron"),
    "bucket name": (("bucket: my-bucket", "bucket: My_Bucket"), "destination.bucket", "not a bucket name"),
    "prefix": (("prefix: partners/PB01/x", "prefix: partners/../PB02"), "destination.prefix", "clean key prefix"),
    "unknown field": (("partner_id: PB01", "partner_id: PB01\npartner: PB02"), "partner", "unknown field"),
    "missing partner": (("partner_id: PB01\n", ""), "partner_id", "missing"),
    "yaml": (("columns: [customer_token, score, grade]", "columns: [customer_token, score"), "<yaml>", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_file_names_file_and_field(tmp_path, case):
    (old, new), field, words = BAD_SPECS[case]
    assert old in GOOD_SPEC
    path = tmp_path / "pbx_test.yaml"
    path.write_text(GOOD_SPEC.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.spec_file == str(path) and err.value.field == field
    assert str(path) in str(err.value) and f"'{field}'" in str(err.value) and words in str(err.value)


def test_good_spec_template_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD_SPEC)
    spec = load_spec(path)
    assert (spec.bucket, spec.prefix, spec.hour_minute, spec.extension) == ("my-bucket", "partners/PB01/x", (7, 30), ".csv.gz")


def test_overlapping_prefixes_of_two_partners_rejected(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD_SPEC)
    (tmp_path / "b.yaml").write_text(GOOD_SPEC.replace("pbx_test", "pby_test").replace("PB01", "PB02", 1)
                                     .replace("partners/PB01/x", "partners/PB01"))
    with pytest.raises(SpecError, match=r"b\.yaml: field 'destination.prefix'.*another partner's prefix"):
        load_specs(tmp_path)
    with pytest.raises(SpecError, match="also used by"):
        check_isolation([load_spec(tmp_path / "a.yaml"), load_spec(tmp_path / "a.yaml")])


# ---------------------------------------------------------------------------------------------- tokens & contract

def test_tokens_per_partner_stable_and_vectorised_equal():
    ids = ["C000000001", "C000000002", "C123456789"]
    a = [partner_token(c, "PB01", KEY) for c in ids]
    assert a == [partner_token(c, "PB01", KEY) for c in ids]            # stable across calls/days
    assert all(t.startswith("pt_") and len(t) == 35 for t in a)
    b = [partner_token(c, "PB02", KEY) for c in ids]
    assert not set(a) & set(b)                                           # partners cannot join
    assert a != [partner_token(c, "PB01", KEY + "x") for c in ids]       # keyed
    con = duckdb.connect()
    con.register("t", pa.table({"customer_id": ids}))
    got = [r[0] for r in con.execute(f"SELECT {token_sql('customer_id', partner_key('PB01', KEY))} FROM t").fetchall()]
    assert got == a


def test_dev_token_key_warns(monkeypatch):
    monkeypatch.delenv("EXPORT_TOKEN_KEY", raising=False)
    with pytest.warns(UserWarning, match="EXPORT_TOKEN_KEY"):
        assert export_token_key() == DEV_EXPORT_TOKEN_KEY
    monkeypatch.setenv("EXPORT_TOKEN_KEY", "s3cret")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert export_token_key() == "s3cret"


def test_scores_contract(scores):
    assert tuple(scores.column_names) == SCORES_COLUMNS
    validate_scores_schema(scores.schema)
    loose = scores.set_column(scores.schema.get_field_index("score"), "score", scores["score"].cast(pa.int64()))
    assert conform_scores_table(loose).schema.field("score").type == pa.int32()
    with pytest.raises(ScoresContractError, match="unexpected columns: national_id"):
        validate_scores_schema(scores.append_column("national_id", pa.array(["x"] * len(scores))).schema)
    with pytest.raises(ScoresContractError, match="missing columns: grade"):
        validate_scores_schema(scores.drop_columns(["grade"]).schema)
    with pytest.raises(ScoresContractError, match="probability: type string"):
        validate_scores_schema(scores.set_column(6, "probability", scores["probability"].cast(pa.string())).schema)
    assert scores_path("2026-03-01", "/lake") == Path("/lake/scores/business_date=2026-03-01/scores.parquet")


# ---------------------------------------------------------------------------------------------- storage

@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    if request.param == "local":
        store = LocalFolderStore(tmp_path / "exports", create_buckets=False)
        (tmp_path / "exports" / "bkt").mkdir(parents=True)
        return store, "bkt"
    client = request.getfixturevalue("s3_client")
    return S3Store(client), request.getfixturevalue("s3_bucket")


def test_storage_interface_same_behaviour(any_store):
    store, bucket = any_store
    store.check_bucket(bucket)
    with pytest.raises(BucketNotFound):
        store.check_bucket("no-such-bucket-here")
    store.put(bucket, "p/a/1.txt", b"one")
    store.put(bucket, "p/a/2.txt", b"two!")
    store.put(bucket, "p/b/3.txt", b"3")
    store.put(bucket, "p/a/1.txt", b"uno")  # replace
    assert store.list(bucket, "p/a/") == {"p/a/1.txt": 3, "p/a/2.txt": 4}
    assert store.get(bucket, "p/a/1.txt") == b"uno"
    store.delete(bucket, ["p/a/1.txt", "p/a/2.txt", "p/a/missing.txt"])
    assert store.list(bucket, "p/a/") == {} and list(store.list(bucket, "p/")) == ["p/b/3.txt"]


def test_s3_large_object_goes_multipart(s3_client, s3_bucket, monkeypatch):
    monkeypatch.setattr("exports.storage.MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    data = bytes(range(256)) * (11 * 4096)  # 11 MiB -> 3 parts
    S3Store(s3_client).put(s3_bucket, "big/object.bin", data)
    head = s3_client.head_object(Bucket=s3_bucket, Key="big/object.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    assert hashlib.sha256(S3Store(s3_client).get(s3_bucket, "big/object.bin")).digest() == hashlib.sha256(data).digest()


# ---------------------------------------------------------------------------------------------- exporter on S3

class RecordingStore:
    """Wraps a store: records every write, and can crash before a chosen put."""

    def __init__(self, inner, crash_on=None):
        self.inner, self.crash_on, self.puts = inner, crash_on, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put(self, bucket, key, data, content_type="application/octet-stream"):
        if self.crash_on and self.crash_on(key, len(self.puts)):
            raise ConnectionError(f"injected crash before writing {key}")
        self.puts.append(key)
        self.inner.put(bucket, key, data, content_type)


def test_round_trip_all_partners_through_s3(scores, specs, s3_client, s3_bucket):
    store = RecordingStore(S3Store(s3_client))
    for spec in specs.values():
        store.puts.clear()
        result = export(spec, store, scores)
        assert store.puts[-1] == manifest_key(spec, DAY)                      # manifest written last
        manifest, table, keys = partner_download(s3_client, s3_bucket, spec)
        assert manifest == result.manifest
        assert (manifest["partner_id"], manifest["business_date"]) == (spec.partner_id, DAY)
        # The shipped specs follow the champion: the manifest names the model that scored (here <label>_lightgbm).
        assert spec.model_name == "champion"
        assert manifest["model"] == {"name": f"{spec.label}_lightgbm", "version": "v0001", "label": spec.label}
        assert {"created_at", "columns", "files", "row_count"} <= set(manifest)
        assert [c["name"] for c in manifest["columns"]] == [c.name for c in spec.columns]
        assert all(set(f) == {"name", "rows", "bytes", "sha256"} and "/" not in f["name"] for f in manifest["files"])
        want = expected_rows(scores, spec)
        assert manifest["row_count"] == want.num_rows > 0
        assert len(manifest["files"]) == -(-want.num_rows // spec.max_rows_per_file) > 1  # split into parts
        # values survive the round trip, row for row (joined on the partner token)
        token_col = next(c.name for c in spec.columns if c.source == "customer_token")
        by_token = {partner_token(c, spec.partner_id, KEY): i for i, c in enumerate(want["customer_id"].to_pylist())}
        assert sorted(by_token) == table[token_col].to_pylist()             # sorted by token, no one missing
        for col in spec.columns:
            if col.source in ("customer_token", "business_date"):
                continue
            src = want[col.source].to_pylist()
            got = table[col.name].to_pylist()
            for tok, value in zip(table[token_col].to_pylist()[:50], got[:50]):
                assert value == src[by_token[tok]] or (value is None and src[by_token[tok]] in (None, "")), col
        assert read_export(S3Store(s3_client), s3_bucket, result.manifest_key)[1].num_rows == want.num_rows
        assert check_published(S3Store(s3_client), result) == []


def test_isolation_no_other_partner_customers_no_internal_ids(scores, specs, s3_client, s3_bucket):
    store = S3Store(s3_client)
    files = {}
    for pid, spec in specs.items():
        export(spec, store, scores)
        _, table, keys = partner_download(s3_client, s3_bucket, spec)
        assert all(k.startswith(spec.prefix + "/") for k in keys)
        files[pid] = (spec, set(table.column(0).to_pylist()), keys)
    all_ids = scores["customer_id"].unique().to_pylist()
    for pid, (spec, tokens, keys) in files.items():
        own = set(pc.filter(scores["customer_id"], pc.equal(scores["partner_id"], pid)).to_pylist())
        others = set(all_ids) - own
        # every exported token is one of this partner's own customers; none is another partner's
        assert tokens <= {partner_token(c, pid, KEY) for c in own}
        assert not tokens & {partner_token(c, pid, KEY) for c in others}
        # and the files are unlinkable to other partners' files (different keys)
        for other, (_, other_tokens, _) in files.items():
            if other != pid:
                assert not tokens & other_tokens
        # no internal customer id (nor any raw id) appears anywhere in the bytes sent
        for key in keys:
            data = download(s3_client, s3_bucket, key)
            text = (gzip.decompress(data) if key.endswith(".gz") else data).decode("latin-1")
            assert "customer_id" not in text and "C0000" not in text, key


def test_rerun_replaces_partition_cleanly(scores, specs, s3_client, s3_bucket):
    spec = specs["PB01"]
    store = S3Store(s3_client)
    first = export(spec, store, scores)
    keys_first = all_keys(s3_client, s3_bucket)
    second = export(spec, store, scores)
    assert all_keys(s3_client, s3_bucket) == keys_first                 # same objects, no duplicates
    assert [f["sha256"] for f in second.manifest["files"]] == [f["sha256"] for f in first.manifest["files"]]
    # a re-run with bigger parts leaves no stale part behind
    bigger = dataclasses.replace(spec, max_rows_per_file=100_000)
    third = export(bigger, store, scores)
    assert len(third.manifest["files"]) == 1 and third.removed_keys
    manifest, table, keys = partner_download(s3_client, s3_bucket, bigger)
    assert len(keys) == 2 and table.num_rows == first.row_count
    # a re-run on corrected scores (fewer customers) replaces the content
    fewer = scores.filter(pc.not_equal(scores["grade"], "E"))
    fourth = export(spec, store, fewer)
    manifest, table, _ = partner_download(s3_client, s3_bucket, spec)
    assert manifest["row_count"] == fourth.row_count == expected_rows(fewer, spec).num_rows < first.row_count
    # other partitions and partners untouched
    assert all(k.startswith(partition_prefix(spec, DAY)) for k in all_keys(s3_client, s3_bucket))


@pytest.mark.parametrize("crash_at", ["manifest", "second_part"])
def test_crash_leaves_no_manifest_and_rerun_recovers(scores, specs, s3_client, s3_bucket, crash_at):
    spec = specs["PB02"]
    s3 = S3Store(s3_client)
    export(spec, s3, scores)                                             # a good earlier run exists
    mkey = manifest_key(spec, DAY)
    if crash_at == "manifest":
        crash = RecordingStore(s3, crash_on=lambda key, n: key.endswith("manifest.json"))
    else:
        crash = RecordingStore(s3, crash_on=lambda key, n: n == 1)
    with pytest.raises(ConnectionError, match="injected crash"):
        export(spec, crash, scores.filter(pc.not_equal(scores["grade"], "A")), workers=1)
    keys = all_keys(s3_client, s3_bucket)
    if crash_at == "manifest":
        assert mkey not in keys                                          # no manifest: partition withdrawn
        assert set(crash.puts) <= set(keys) and len(crash.puts) > 1     # all data files were written
    else:
        assert len(crash.puts) == 1                                      # stopped at the failing part
        # staging failed: the previous partition is untouched and still verifies (no mixed part set)
        manifest, table = read_export(s3, s3_bucket, mkey)
        assert table.num_rows == manifest["row_count"] == expected_rows(scores, spec).num_rows
        assert any(k.startswith(staging_prefix(spec, DAY)) for k in keys)  # the failed run's part: staged only
    result = export(spec, s3, scores)
    _, table, keys = partner_download(s3_client, s3_bucket, spec)        # exactly the new files + manifest
    assert table.num_rows == result.row_count == expected_rows(scores, spec).num_rows


def test_s3_errors_are_clear_messages_not_botocore_tracebacks(s3_client, s3_bucket):
    from exports.storage import StorageError

    s3 = S3Store(s3_client)
    with pytest.raises(StorageError, match=r"cannot read s3://.*/no/such/key: NoSuchKey: the object does not exist"):
        s3.get(s3_bucket, "no/such/key")
    with pytest.raises(StorageError, match=r"cannot write s3://bucket-never-made/k: NoSuchBucket: the bucket does not exist"):
        s3.put("bucket-never-made", "k", b"x")
    with pytest.raises(StorageError, match="NoSuchBucket"):
        s3.list("bucket-never-made", "p/")


def test_unknown_model_or_version_writes_nothing(scores, specs, s3_client, s3_bucket):
    s3 = S3Store(s3_client)
    bad = dataclasses.replace(specs["PB01"], model_name="a_card_xgb")
    with pytest.raises(SpecError) as err:
        export(bad, s3, scores)
    assert err.value.field == "model.name" and err.value.spec_file.endswith("pb01_a_card_daily.yaml")
    assert "unknown model 'a_card_xgb'" in str(err.value) and "a_card_lightgbm" in str(err.value)
    with pytest.raises(SpecError, match="version 'v0099'") as err:
        export(dataclasses.replace(specs["PB01"], version="v0099"), s3, scores)
    assert err.value.field == "model.version"
    assert all_keys(s3_client, s3_bucket) == []


def test_champion_version_policy(scores, specs, s3_client, s3_bucket):
    challenger = scores.filter(pc.equal(scores["label"], "a_card"))
    challenger = challenger.set_column(5, challenger.schema.field(5), pa.array(["v0002"] * len(challenger)))
    both = pa.concat_tables([scores, challenger])
    s3 = S3Store(s3_client)
    with pytest.raises(SpecError, match="ambiguous"):
        export(specs["PB01"], s3, both)
    assert all_keys(s3_client, s3_bucket) == []
    result = export(specs["PB01"], s3, both, champion_version=lambda model, label: "v0002")
    assert result.manifest["model"]["version"] == "v0002"
    pinned = export(dataclasses.replace(specs["PB01"], version="v0001"), s3, both)
    assert pinned.manifest["model"]["version"] == "v0001" and pinned.row_count == result.row_count


def test_missing_bucket_is_a_spec_error_and_writes_nothing(scores, specs, s3_client, s3_bucket, monkeypatch):
    monkeypatch.setenv("EXPORT_BUCKET", "bucket-that-was-never-created")
    spec = load_spec(SPECS_DIR / "pb03_a_card_daily.yaml")
    with pytest.raises(SpecError) as err:
        export(spec, S3Store(s3_client), scores)
    assert err.value.field == "destination.bucket" and "pb03_a_card_daily.yaml" in str(err.value)
    assert "bucket-that-was-never-created" in str(err.value)
    assert "bucket-that-was-never-created" not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]
    assert all_keys(s3_client, s3_bucket) == []


def test_bad_scores_write_nothing(scores, specs, s3_client, s3_bucket, tmp_path):
    s3 = S3Store(s3_client)
    with pytest.raises(ExportError, match="no scores for business date 2026-03-01"):
        export_partition(specs["PB01"], DAY, s3, lake_root=tmp_path, token_key=KEY)
    leaky = scores.append_column("national_id", pa.array(["110101199001011234"] * len(scores)))
    with pytest.raises(ScoresContractError, match="national_id"):
        export(specs["PB01"], s3, leaky)
    with pytest.raises(ExportError, match="duplicate rows"):
        export(specs["PB01"], s3, pa.concat_tables([scores, scores.slice(0, 50)]))
    phone = scores.set_column(9, scores.schema.field(9), pc.if_else(pc.equal(scores["partner_id"], "PB01"),
                                                                    "Called 13800001234 twice", scores["reason_1"]))
    with pytest.raises(ExportError, match="personal data or an internal id: reason_1 in"):
        export(specs["PB01"], s3, phone)
    own_id = scores.set_column(11, scores.schema.field(11), pc.binary_join_element_wise("see ", scores["customer_id"], ""))
    with pytest.raises(ExportError, match="reason_3 in"):
        export(specs["PB01"], s3, own_id)
    with pytest.raises(ExportError, match="expected only 2026-03-01"):
        export(specs["PB01"], s3, fake_scores(100, "2026-03-02"))
    assert all_keys(s3_client, s3_bucket) == []


def test_empty_population_publishes_empty_partition(scores, specs, s3_client, s3_bucket):
    spec = specs["PB04"]
    without = scores.filter(pc.not_equal(scores["partner_id"], "PB04"))
    result = export(spec, S3Store(s3_client), without)
    manifest = result.manifest
    assert manifest["row_count"] == 0 and len(manifest["files"]) == 1 and manifest["files"][0]["rows"] == 0
    _, table = read_export(S3Store(s3_client), s3_bucket, result.manifest_key)
    assert table.num_rows == 0 and table.column_names == [c.name for c in spec.columns]


def test_tampered_file_fails_verification(scores, specs, s3_client, s3_bucket):
    result = export(specs["PB03"], S3Store(s3_client), scores)
    key = result.partition_prefix + result.manifest["files"][0]["name"]
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"customer_token\npt_x\n")
    with pytest.raises(ExportVerificationError, match="SHA-256 mismatch"):
        read_export(S3Store(s3_client), s3_bucket, result.manifest_key)


# ---------------------------------------------------------------------------------------------- local folder (embedded default)

def test_local_folder_default_same_layout_and_files(scores, tmp_path, monkeypatch):
    monkeypatch.delenv("EXPORT_BUCKET", raising=False)
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("EXPORT_STORAGE", raising=False)
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path))
    write_scores(scores, scores_path(DAY, tmp_path))
    from exports.__main__ import main
    monkeypatch.setenv("EXPORT_TOKEN_KEY", KEY)
    assert main(["run", "--date", DAY]) == 0
    assert main(["verify", "--date", DAY]) == 0
    for spec in load_specs():
        folder = tmp_path / "exports" / "risk-partner-exports" / spec.prefix / f"business_date={DAY}"
        manifest = json.loads((folder / "manifest.json").read_text())
        assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json"] + [f["name"] for f in manifest["files"]])
        for f in manifest["files"]:
            assert hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest() == f["sha256"]
        assert manifest["row_count"] == expected_rows(scores, spec).num_rows
    assert main(["run", "--date", "2026-03-05"]) == 1  # no scores that day: clear error, exit 1
    missing = LocalFolderStore(tmp_path / "elsewhere", create_buckets=False)
    with pytest.raises(SpecError, match="destination.bucket"):
        export(load_specs()[0], missing, scores)
    assert not (tmp_path / "elsewhere").exists()


def test_champion_model_name_follows_the_one_model_scoring_the_label(specs):
    from exports.exporter import resolve_champion_model

    con = duckdb.connect()
    con.execute("CREATE VIEW scores AS SELECT * FROM (VALUES ('a_card', 'a_card_scorecard'), ('b_card', 'b_card_lightgbm'))"
                " t(label, model_name)")
    follows = dataclasses.replace(specs["PB01"], model_name="champion")
    assert resolve_champion_model(con, follows, "2026-09-30").model_name == "a_card_scorecard"
    pinned = dataclasses.replace(specs["PB01"], model_name="a_card_lightgbm")
    assert resolve_champion_model(con, pinned, "2026-09-30") is pinned  # a pinned name is never switched
    con.execute("CREATE OR REPLACE VIEW scores AS SELECT * FROM (VALUES ('a_card', 'a_card_scorecard'), "
                "('a_card', 'a_card_lightgbm')) t(label, model_name)")
    with pytest.raises(SpecError, match="exactly one 'a_card' model") as err:
        resolve_champion_model(con, follows, "2026-09-30")
    assert err.value.field == "model.name"
