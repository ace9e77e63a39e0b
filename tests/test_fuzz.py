"""Bad input never gives a traceback, a partial result or a silent wrong answer.

Hundreds of corrupted variants of LAReQA fixture files (truncations, byte flips, field
deletions and type changes, duplicated ids, empty questions, other encodings, missing files)
go through the CLI; every variant the loader rejects must give exit code 2, one stderr line
naming the file (and line where there is one), and nothing under the output folder. A variant
the loader accepts is still valid data (a flipped letter in a sentence): its run must succeed,
and it does not count towards the invalid variants required.
The generator is a seeded ``random.Random``: every run checks the same variants, and a failure
message names the variant so it can be replayed.
"""
from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from lareqa_fixture import write_dataset
from test_cli import invoke as invoke_cli

from mlirbench.cli import main
from mlirbench.errors import DataError
from mlirbench.records.side_files import RANKS_HEADER, read_ranks, read_trec
from mlirbench.registry import get_task

LANGS = ["de", "en", "zh"]  # ASCII, Latin-1 range and CJK texts
N_VARIANTS = 320
MIN_INVALID = 200
Mutation = Callable[[random.Random, dict[str, bytes]], tuple[str, bytes | None, str]]


def invoke(args: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of the CLI."""
    code, _, err = invoke_cli(args, capsys)
    return code, err


# ---- mutations: each returns (file name, new bytes or None = delete the file, description)

def _nodes(obj, path=()):
    """Every (container, key) slot of a JSON tree, depth first."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield obj, key, path + (key,)
        yield from _nodes(value, path + (key,))


def _json_edit(edit: Callable[[random.Random, dict], str]) -> Mutation:
    def mutate(rng: random.Random, files: dict[str, bytes]) -> tuple[str, bytes, str]:
        name = rng.choice(sorted(files))
        data = json.loads(files[name])
        what = edit(rng, data)
        try:
            return name, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"), what
        except UnicodeEncodeError:  # a lone surrogate reaches a file only as a \uXXXX escape
            return name, json.dumps(data, indent=1).encode("ascii"), what
    mutate.__name__ = edit.__name__
    return mutate


def _qas(data: dict) -> list[dict]:
    return [qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]


def _paragraphs(data: dict) -> list[dict]:
    return [p for a in data["data"] for p in a["paragraphs"]]


def truncate(rng, files):
    name = rng.choice(sorted(files))
    cut = rng.randrange(0, len(files[name]) - 1)
    return name, files[name][:cut], f"truncated at byte {cut}"


def flip_byte(rng, files):
    name = rng.choice(sorted(files))
    raw = bytearray(files[name])
    pos = rng.randrange(len(raw))
    raw[pos] = rng.choice([0x00, 0xFF, 0xC3, ord('"'), ord("{"), ord("]"), ord(","), ord("\\"), rng.randrange(256)])
    return name, bytes(raw), f"byte {pos} set to {raw[pos]:#04x}"


def delete_field(rng, data):
    slots = [(c, k, p) for c, k, p in _nodes(data) if isinstance(c, dict)]
    container, key, path = rng.choice(slots)
    del container[key]
    return f"deleted {'/'.join(map(str, path))}"


def change_type(rng, data):
    container, key, path = rng.choice(list(_nodes(data)))
    old = container[key]
    choices = [v for v in (None, 7, -1, 2.5, True, "x", "", [], {}, [1, 2], {"a": 1}) if type(v) is not type(old)]
    container[key] = rng.choice(choices)
    return f"{'/'.join(map(str, path))} became {container[key]!r}"


def duplicate_id(rng, data):
    qas = _qas(data)
    a, b = rng.sample(range(len(qas)), 2)
    qas[b]["id"] = qas[a]["id"]
    return f"question {b} got the id of question {a}"


def bad_id(rng, data):
    qa = rng.choice(_qas(data))
    qa["id"] = rng.choice(["", "q 1", "q\t1", "\n", "\ud800"])
    return f"question id set to {qa['id']!r}"


def empty_question(rng, data):
    qa = rng.choice(_qas(data))
    qa["question"] = rng.choice(["", " ", "\t\n", "\u3000"])
    return f"question {qa['id']} emptied"


def lone_surrogate(rng, data):
    para = rng.choice(_paragraphs(data))
    if rng.random() < 0.5:
        para["sentences"][0] += "\udc80"
    else:
        para["qas"][0]["question"] += "\ud83d"
    return "lone surrogate in a text"


def drop_list_item(rng, data):
    para = rng.choice(_paragraphs(data))
    key = rng.choice(["sentences", "sentence_breaks", "qas/answers"])
    if key == "qas/answers":
        rng.choice(para["qas"])["answers"].clear()
    else:
        para[key].pop(rng.randrange(len(para[key])))
    return f"removed an item of {key}"


def bad_answer_start(rng, data):
    qa = rng.choice(_qas(data))
    qa["answers"][0]["answer_start"] = rng.choice([-1, 10**6, True, 3.5, "12", None])
    return f"answer_start set to {qa['answers'][0]['answer_start']!r}"


def bad_breaks(rng, data):
    para = rng.choice(_paragraphs(data))
    br = para["sentence_breaks"]
    choice = rng.randrange(4)
    if choice == 0:
        br[0], br[-1] = br[-1], br[0]
    elif choice == 1:
        br[0] = [br[0][1], br[0][0] - 1]
    elif choice == 2:
        br[rng.randrange(len(br))] = [1]
    else:
        br[rng.randrange(len(br))] = ["0", 5]
    return f"sentence_breaks damaged ({choice})"


def hollow(rng, data):
    choice = rng.randrange(4)
    if choice == 0:
        data["data"] = []
    elif choice == 1:
        for para in _paragraphs(data):
            para["qas"] = []
    elif choice == 2:
        data["data"] = {"paragraphs": []}
    else:
        data["data"][0]["paragraphs"][0]["sentences"] = []
    return f"hollowed out ({choice})"


def re_encode(rng, files):
    enc = rng.choice(["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "latin-1", "cp1252"])
    name = "de.json" if enc in ("latin-1", "cp1252") else rng.choice(sorted(files))  # de has ü
    return name, files[name].decode("utf-8").encode(enc), f"encoded as {enc}"


def broken_utf8(rng, files):
    name = rng.choice(sorted(files))
    raw = files[name]
    quote = rng.choice([i for i in range(len(raw)) if raw[i:i + 1] == b'"'])
    return name, raw[:quote + 1] + rng.choice([b"\xc3\x28", b"\xe4\xb8", b"\x80", b"\xed\xa0\x80"]) + raw[quote + 1:], \
        f"invalid UTF-8 after byte {quote}"


def not_squad(rng, files):
    name = rng.choice(sorted(files))
    body = rng.choice([b"", b"   \n", b"null", b"[]", b'{"data": null}', b'{"version": "1.1"}',
                       b"[" * 100_000, b'{"data": [1, 2]}', b"NaN"])
    return name, body, f"replaced by {body[:20]!r}"


def remove_file(rng, files):
    name = rng.choice(sorted(files))
    return name, None, "file removed"


MUTATIONS: list[Mutation] = [
    truncate, truncate, flip_byte, flip_byte, flip_byte, _json_edit(delete_field), _json_edit(delete_field),
    _json_edit(change_type), _json_edit(change_type), _json_edit(duplicate_id), _json_edit(bad_id),
    _json_edit(empty_question), _json_edit(lone_surrogate), _json_edit(drop_list_item),
    _json_edit(bad_answer_start), _json_edit(bad_breaks), _json_edit(hollow), re_encode, broken_utf8,
    not_squad, remove_file,
]


@pytest.fixture(scope="module")
def base_files(tmp_path_factory) -> dict[str, bytes]:
    """Fixture files pretty-printed (so JSON errors have meaningful line numbers)."""
    root = write_dataset(tmp_path_factory.mktemp("base"), LANGS)
    return {f"{lang}.json": json.dumps(json.loads((root / f"{lang}.json").read_text(encoding="utf-8")),
                                       ensure_ascii=False, indent=1).encode("utf-8") for lang in LANGS}


def test_corrupted_lareqa_files_fail_cleanly(base_files: dict[str, bytes], tmp_path: Path, capsys) -> None:
    rng = random.Random(20240807)
    task = get_task("xquad-r")
    invalid = 0
    for i in range(N_VARIANTS):
        mutate = MUTATIONS[i % len(MUTATIONS)]
        name, body, what = mutate(rng, base_files)
        data = tmp_path / f"v{i}"
        data.mkdir()
        for fname, raw in base_files.items():
            if fname != name:
                (data / fname).write_bytes(raw)
        if body is not None:
            (data / name).write_bytes(body)
        label = f"variant {i} ({mutate.__name__}, {name}: {what})"
        out = tmp_path / f"out{i}"
        args = ["run", "-m", "random", "-t", "xquad-r", "--langs", ",".join(LANGS), "--data-dir", str(data),
                "-o", str(out), "--quiet", "--no-cache"]
        try:
            task.load(data, LANGS)
        except DataError as exc:
            expected = exc
        except Exception as exc:  # noqa: BLE001 - any other exception is the bug this test hunts
            pytest.fail(f"{label}: loader raised {type(exc).__name__}: {exc}")
        else:  # still valid data (a changed letter): the whole run must work
            code, err = invoke(args, capsys)
            assert code == 0 and (out / "random" / "xquad-r.de-en-zh.json").is_file(), f"{label}: {err!r}"
            continue
        invalid += 1
        code, err = invoke(args, capsys)
        assert code == 2, f"{label}: exit code {code}"
        assert err.startswith("error: ") and err.count("\n") == 1, f"{label}: stderr {err!r}"
        named = data / name if body is not None else data
        assert str(named) in err, f"{label}: the error does not name {named}: {err!r}"
        if body is None:
            assert f"lacks {name}" in err, f"{label}: {err!r}"
        if expected.line is not None:
            assert f"{named}:{expected.line}: " in err, f"{label}: no line number in {err!r}"
        assert not out.exists() or not any(out.rglob("*")), f"{label}: files written under {out}"
    assert invalid >= MIN_INVALID, f"only {invalid} of {N_VARIANTS} variants were invalid"


@pytest.mark.parametrize("args, message", [
    (["--langs", "en,xx"], "unknown language code for task xquad-r 'xx'"),
    (["--langs", "en,de", "--data-dir", "{missing}"], "xquad-r data folder does not exist"),
    (["--langs", "en,de,es", "--data-dir", "{data}"], "xquad-r data folder lacks es.json"),
    (["--data-dir", "{data}"], "xquad-r data folder lacks ar.json, el.json"),
])
def test_bad_selection_and_folders(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "data", ["en", "de"])
    args = [a.format(data=data, missing=tmp_path / "nope") for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", str(data)]
    out = tmp_path / "out"
    code, err = invoke(["run", "-m", "random", "-t", "xquad-r", "-o", str(out), "--quiet"] + args, capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


# ---- ranks and TREC run files (read back for significance tests and fusion)

@pytest.fixture(scope="module")
def run_files(tmp_path_factory) -> dict[str, bytes]:
    """Uncompressed ranks and TREC files of a fixture run."""
    root = tmp_path_factory.mktemp("runfiles")
    data = write_dataset(root / "data", LANGS)
    main(["run", "-m", "random", "-t", "xquad-r", "--langs", ",".join(LANGS), "--data-dir", str(data),
          "-o", str(root / "res"), "--quiet", "--no-cache"])
    folder = root / "res" / "random"
    return {kind: gzip.decompress((folder / f"xquad-r.de-en-zh.{kind}").read_bytes())
            for kind in ("ranks.tsv.gz", "multi.trec.gz")}


def _text_mutation(rng: random.Random, raw: bytes, kind: str) -> tuple[bytes, str]:
    lines = raw.split(b"\n")
    n = rng.randrange(1 if kind.startswith("ranks") else 0, len(lines) - 1)  # keep the header
    sep = b"\t" if kind.startswith("ranks") else b" "
    fields = lines[n].split(sep)
    choice = rng.randrange(7)
    if choice == 0:
        fields.pop(rng.randrange(len(fields)))
    elif choice == 1:
        fields.append(b"extra")
    elif choice == 2:
        numeric = [i for i, f in enumerate(fields) if f.replace(b".", b"").replace(b"-", b"").isdigit()]
        fields[rng.choice(numeric)] = rng.choice([b"x", b"1.5e", b"", b"--1"])
    elif choice == 3:
        fields[rng.randrange(len(fields))] += b"\xff"
    elif choice == 4:
        lines.insert(n, lines[n])  # duplicated row
    elif choice == 5:
        lines[0] = b"query\tdoc\trank"  # wrong header (or a 3-field TREC line)
    else:
        fields = [b"0" if kind.startswith("ranks") else b"-3" if i == 3 else f for i, f in enumerate(fields)]
    if choice not in (4, 5):
        lines[n] = sep.join(fields)
    return b"\n".join(lines), f"text mutation {choice} at line {n + 1}"


def test_corrupted_run_files_fail_cleanly(run_files: dict[str, bytes], tmp_path: Path) -> None:
    rng = random.Random(7)
    readers = {"ranks.tsv.gz": read_ranks, "multi.trec.gz": read_trec}
    rejected = 0
    for i in range(120):
        kind = sorted(run_files)[i % 2]
        raw = run_files[kind]
        if i % 3 == 0:  # damage the compressed bytes
            packed = bytearray(gzip.compress(raw, mtime=0))
            if rng.random() < 0.5:
                packed = packed[:rng.randrange(len(packed) - 1)]
                what = "truncated gzip"
            else:
                pos = rng.randrange(10, len(packed))
                packed[pos] ^= 1 << rng.randrange(8)
                what = f"bit flip at gzip byte {pos}"
            body = bytes(packed)
        else:
            text, what = _text_mutation(rng, raw, kind)
            body = gzip.compress(text, mtime=0)
        path = tmp_path / f"v{i}.{kind}"
        path.write_bytes(body)
        try:
            readers[kind](path)
            continue
        except DataError as exc:
            rejected += 1
            assert str(path) in str(exc) and "\n" not in str(exc), f"variant {i} ({what}): {exc}"
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"variant {i} ({kind}, {what}): {type(exc).__name__}: {exc}")
    assert rejected >= 80


def test_run_file_errors_name_the_line(run_files: dict[str, bytes], tmp_path: Path) -> None:
    ranks = run_files["ranks.tsv.gz"].split(b"\n")
    ranks[3] = ranks[3].replace(b"\t", b" ", 1)
    path = tmp_path / "x.ranks.tsv.gz"
    path.write_bytes(gzip.compress(b"\n".join(ranks)))
    with pytest.raises(DataError, match=rf"^{path}:4: expected {len(RANKS_HEADER)} tab-separated fields"):
        read_ranks(path)
    trec = copy.copy(run_files["multi.trec.gz"]).split(b"\n")
    trec.insert(2, trec[1])
    path = tmp_path / "x.trec.gz"
    path.write_bytes(gzip.compress(b"\n".join(trec)))
    with pytest.raises(DataError, match=rf"^{path}:3: duplicate doc"):
        read_trec(path)
    path.write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match=rf"^{path}: damaged gzip file"):
        read_trec(path)
    with pytest.raises(DataError, match="file not found"):
        read_ranks(tmp_path / "absent.ranks.tsv.gz")
