"""Topical domains of SQuAD-format articles, for domain-shift evaluation and training splits.

Automatic assignment (works on any SQuAD-format file, no network, no model): each article's
English title and paragraph text are split into lowercase words; every word that matches an
entry of a domain's lexicon below counts 1 for that domain (title words count ``TITLE_WEIGHT``);
the article goes to the domain with the most hits, ties and articles without any hit going to
the earlier domain in ``DOMAINS`` order. A lexicon entry ending in ``*`` matches every word
with that prefix. It is deliberately simple so that every decision can be traced by hand.

A mapping file (``tasks/domains/<task>.json``) lists every article with its domain (hand-checked
where ``hand_checked`` is true, with the automatic domain beside it) and maps every question
group (the SQuAD question ``id``, shared by the translations of a question) to the domain of
its article. Splits (``<task>.splits.json``) hold one leave-one-domain-out split per domain:
article titles to train on and the held-out domain's titles.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from mlirbench._io.atomic import atomic_open
from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError
from mlirbench.names import unknown

FORMAT = "mlirbench-domains/1"
SPLITS_FORMAT = "mlirbench-domain-splits/1"
TITLE_WEIGHT = 5

DOMAINS: dict[str, str] = {
    "science": "science & medicine (natural sciences, mathematics, medicine, health)",
    "society": "history, politics & religion (also law, government, education)",
    "places": "places & geography (cities, regions, countries, rivers, natural areas)",
    "culture": "arts, media & sport (music, film, television, museums, games)",
    "tech": "technology & economics (engineering, computing, industry, energy, the economy)",
}

LEXICON: dict[str, tuple[str, ...]] = {
    "science": (
        "physic*", "chemi*", "biolog*", "scien*", "molecul*", "atom*", "protein*", "cell", "cells",
        "cellular", "gene", "genes", "genetic*", "genom*", "dna", "species", "organism*", "bacteri*",
        "virus*", "evolution*", "photosynth*", "enzyme*", "membrane*", "medic*", "disease*",
        "patient*", "symptom*", "infect*", "immun*", "vaccin*", "clinic*", "hospital*", "pharmac*",
        "drug", "drugs", "health*", "surg*", "therap*", "diagnos*", "epidem*", "pandem*", "plague",
        "cancer*", "tissue*", "blood", "mathemat*", "theorem*", "equation*", "prime", "primes",
        "integer*", "algebra*", "geometr*", "proof", "proofs", "conjecture*", "formula*", "calculus",
        "hypothes*", "experiment*", "laborator*", "oxygen", "hydrogen", "carbon", "nitrogen",
        "compound*", "acid*", "gravit*", "velocity", "acceleration", "quantum", "particle*",
        "momentum", "geolog*", "mineral*", "rock", "rocks", "sediment*", "fossil*", "tecton*",
        "greenhouse", "atmospher*", "ecolog*", "ecosystem*", "biodivers*", "predator*", "prey",
        "larva*", "marine", "algae",
    ),
    "society": (
        "histor*", "war", "wars", "battle*", "army", "armies", "militar*", "soldier*", "empire*",
        "emperor*", "dynast*", "king", "kings", "queen", "kingdom*", "reign*", "throne", "conquest*",
        "conquer*", "invas*", "invad*", "revolt*", "rebel*", "revolution*", "treaty", "treaties",
        "colon*", "medieval", "ancient", "politic*", "govern*", "parliament*", "election*",
        "elected", "electoral", "vote*", "voting", "voter*", "democra*", "party", "parties",
        "president*", "minister*", "law", "laws", "legal", "legislat*", "court*", "judge*",
        "constitution*", "rights", "protest*", "citizen*", "church*", "relig*", "christian*",
        "catholic*", "protestant*", "theolog*", "bishop*", "pope", "priest*", "god", "faith",
        "bible*", "islam*", "muslim*", "jew*", "doctrine*", "worship*", "persecut*", "clergy",
        "school*", "teacher*", "teach*", "student*", "educat*", "universit*", "college*", "pupil*",
        "academic*", "curriculum*", "tuition", "faculty", "faculties", "professor*", "alumni",
    ),
    "places": (
        "city", "cities", "town*", "village*", "capital", "district*", "neighborhood*",
        "neighbourhood*", "suburb*", "metropolitan", "urban", "county", "counties", "province*",
        "region*", "population", "inhabitant*", "resident*", "river*", "lake*", "mountain*",
        "valley*", "coast*", "island*", "sea", "ocean*", "bay", "forest*", "rainforest*", "desert*",
        "geograph*", "border*", "north", "south", "east", "west", "northern", "southern", "eastern",
        "western", "touris*", "airport*", "downtown", "street*", "park", "parks", "km", "kilomet*",
        "mile", "miles", "landscape*", "tributar*", "basin*", "delta", "harbour", "harbor", "port",
    ),
    "culture": (
        "music*", "song*", "album*", "band", "singer*", "concert*", "film*", "movie*", "actor*",
        "actress*", "cinema*", "television", "tv", "broadcast*", "channel*", "episode*", "series",
        "season", "show", "shows", "programme*", "media", "newspaper*", "magazine*", "journalis*",
        "art", "arts", "artist*", "paint*", "sculpt*", "museum*", "galler*", "exhibit*",
        "collection*", "theatre*", "theater*", "drama*", "novel*", "poet*", "poem*", "literat*",
        "game", "games", "sport*", "team*", "player*", "football", "soccer", "coach*",
        "championship*", "league*", "tournament*", "olympic*", "stadium*", "scored", "touchdown*",
        "quarterback*", "costume*", "fashion*", "audience*", "viewer*", "subscri*", "entertain*",
        "comic*", "cartoon*", "fiction*",
    ),
    "tech": (
        "technolog*", "engine", "engines", "engineer*", "machin*", "device*", "invent*", "patent*",
        "electric*", "electronic*", "comput*", "software", "hardware", "algorithm*", "data",
        "digital", "internet", "network*", "packet*", "protocol*", "transmi*", "signal*",
        "telecom*", "telephon*", "satellite*", "spacecraft*", "rocket*", "launch*", "nasa",
        "aircraft*", "vehicle*", "car", "cars", "automobil*", "industr*", "manufactur*", "factory",
        "factories", "construction", "contractor*", "infrastructur*", "steam", "boiler*",
        "piston*", "cylinder*", "fuel*", "oil", "petrol*", "gasoline", "energy", "econom*",
        "market*", "price*", "trade", "trading", "tax", "taxes", "taxation", "income*", "wealth*",
        "poverty", "inequal*", "growth", "financ*", "bank*", "invest*", "profit*", "revenue*",
        "cost*", "employ*", "wage*", "labor", "labour", "busines*", "compan*", "firm", "firms",
        "commerc*", "funds", "funding", "dollar*", "budget*",
    ),
}

_WORD = re.compile(r"[a-z]+")


def _compile() -> tuple[dict[str, str], list[tuple[str, str]]]:
    exact, prefixes = {}, []
    for domain, entries in LEXICON.items():
        for entry in entries:
            if entry.endswith("*"):
                prefixes.append((entry[:-1], domain))
            else:
                exact[entry] = domain
    return exact, prefixes


_EXACT, _PREFIXES = _compile()


def word_domain(word: str) -> str | None:
    """The domain a (lowercase) word counts for, or None."""
    if word in _EXACT:
        return _EXACT[word]
    return next((d for p, d in _PREFIXES if word.startswith(p)), None)


def domain_scores(title: str, text: str) -> dict[str, int]:
    """Lexicon hits per domain: title words weigh ``TITLE_WEIGHT``, text words 1."""
    scores = dict.fromkeys(DOMAINS, 0)
    for weight, part in ((TITLE_WEIGHT, title.replace("_", " ")), (1, text)):
        for word in _WORD.findall(part.lower()):
            domain = word_domain(word)
            if domain:
                scores[domain] += weight
    return scores


def assign(title: str, text: str) -> str:
    scores = domain_scores(title, text)
    return max(DOMAINS, key=lambda d: scores[d])  # max keeps the first of equal scores


@dataclass(frozen=True)
class Article:
    index: int
    title: str
    text: str
    groups: tuple[str, ...]  # question ids


def read_articles(path: Path) -> list[Article]:
    """Articles of a SQuAD-format JSON file (title, paragraph contexts, question ids)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read a SQuAD-format JSON file: {exc}") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise DataError(path, "expected a SQuAD-format object with a 'data' list")
    out = []
    for a, article in enumerate(articles):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataError(path, f"data[{a}]: missing 'paragraphs' list")
        paras = article["paragraphs"]
        text = "\n".join(str(p.get("context", "")) for p in paras if isinstance(p, dict))
        groups = tuple(str(q["id"]) for p in paras if isinstance(p, dict)
                       for q in p.get("qas", []) if isinstance(q, dict) and "id" in q)
        out.append(Article(a, str(article.get("title", f"article {a}")), text, groups))
    return out


def build_mapping(path: Path, task: str, hand: dict | None = None) -> dict:
    """A mapping file's content for the articles of ``path``: automatic domains, or the domains
    (and notes) of ``hand`` -- an earlier mapping file, matched by title -- where it has them."""
    hand_by_title = {a["title"]: a for a in (hand or {}).get("articles", []) if a.get("hand_checked")}
    entries, groups = [], {}
    for article in read_articles(path):
        auto = assign(article.title, article.text)
        checked = hand_by_title.get(article.title)
        domain = checked["domain"] if checked else auto
        if domain not in DOMAINS:
            raise unknown(f"domain (article {article.title!r})", domain, DOMAINS)
        entry = {"index": article.index, "title": article.title, "domain": domain, "automatic": auto,
                 "hand_checked": bool(checked)}
        if checked and checked.get("note"):
            entry["note"] = checked["note"]
        entries.append(entry)
        groups.update((g, domain) for g in article.groups)
    checked = [e for e in entries if e["hand_checked"]]
    return {
        "format": FORMAT,
        "task": task,
        "version": (hand or {}).get("version", 1),
        "how_made": (hand or {}).get("how_made", "automatic assignment (mlirbench.data.domains), not checked by hand"),
        "source": {"file": Path(path).name, "sha256": sha256_file(Path(path))},
        "domains": DOMAINS,
        "agreement": agreement(entries) if checked else None,
        "articles": entries,
        "groups": dict(sorted(groups.items())),
    }


def agreement(articles: list[dict]) -> dict:
    """Share of hand-checked articles whose automatic domain equals the hand-checked one."""
    checked = [a for a in articles if a["hand_checked"]]
    same = sum(a["automatic"] == a["domain"] for a in checked)
    return {"rate": round(same / len(checked), 4) if checked else None, "agree": same,
            "articles": len(checked),
            "disagreements": [f"{a['title']}: hand {a['domain']}, automatic {a['automatic']}"
                              for a in checked if a["automatic"] != a["domain"]]}


def build_splits(mapping: dict) -> dict:
    """One leave-one-domain-out split per domain: train on the titles of the other domains."""
    splits = {}
    for domain in mapping["domains"]:
        held = [a["title"] for a in mapping["articles"] if a["domain"] == domain]
        train = [a["title"] for a in mapping["articles"] if a["domain"] != domain]
        splits[f"heldout-{domain}"] = {"heldout_domain": domain, "train": train, "heldout": held}
    return {"format": SPLITS_FORMAT, "task": mapping["task"], "mapping_version": mapping["version"],
            "unit": "article title (shared by every language file of the task)", "splits": splits}


def write_json_file(path: Path, content: dict) -> Path:
    """Stable JSON (two-space indent, UTF-8, trailing newline) so regenerating gives the same bytes."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(content, ensure_ascii=False, indent=2) + "\n")
    return path


def mapping_path(task: str) -> Path:
    return Path(str(files("mlirbench.tasks") / "domains" / f"{task}.json"))


def load_mapping(task: str, path: Path | None = None) -> dict | None:
    """The committed mapping of a task (None if it has none), or the file at ``path``."""
    path = path or mapping_path(task)
    if not path.is_file():
        return None
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed domain mapping: {exc.msg}", line=exc.lineno) from None
    if not isinstance(mapping, dict) or mapping.get("format") != FORMAT:
        raise DataError(path, f"not a domain mapping of format {FORMAT}")
    return mapping


def query_domains(mapping: dict, query_ids: list[str]) -> list[str | None]:
    """Domain of each query id (``<lang>:<question id>``), None where the mapping lacks it."""
    groups = mapping["groups"]
    return [groups.get(q.split(":", 1)[-1]) for q in query_ids]
