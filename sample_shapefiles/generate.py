"""Write the synthetic sample street (中山东路街道, Hohhot) into ``sample_shapefiles/``.

Run from the repository root, either way::

    python -m sample_shapefiles.generate            # default seed, writes next to this file
    python sample_shapefiles/generate.py --seed 20240630 --out /tmp/sample

The output is byte-for-byte reproducible for a seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from geo.synth.bad import bad_buildings, bad_persons  # noqa: E402
from geo.synth.buildings import USES_ZH  # noqa: E402
from geo.synth.dwellings import COLUMNS as DWELLING_COLUMNS  # noqa: E402
from geo.synth.export import (  # noqa: E402
    buildings_frame,
    communities_frame,
    compounds_frame,
    write_csv,
    write_shapefile,
)
from geo.synth.names import is_mongolian_style  # noqa: E402
from geo.synth.people import COLUMNS as PERSON_COLUMNS  # noqa: E402
from geo.synth.street import (  # noqa: E402
    COMMUNITY_NAMES,
    DEFAULT_SEED,
    STREET_CODE,
    Sample,
    generate_street,
)

HERE = Path(__file__).resolve().parent


def write_sample(sample: Sample, out: Path, seed: int) -> dict[str, object]:
    """Write every file of the sample into ``out``; returns the figures quoted in the README."""
    out.mkdir(parents=True, exist_ok=True)
    area = sample.area
    write_shapefile(communities_frame(area.communities), out / "communities.shp")
    write_shapefile(compounds_frame(area.compounds), out / "compounds.shp")
    write_shapefile(buildings_frame(area.buildings), out / "buildings.shp")
    write_csv(sample.dwellings[list(DWELLING_COLUMNS)], out / "dwellings.csv")
    write_csv(sample.persons[list(PERSON_COLUMNS)], out / "persons.csv")

    bad_rng = np.random.default_rng([seed, 1])
    persons_bad, persons_expected = bad_persons(sample.persons, sample.dwellings, bad_rng)
    write_csv(persons_bad, out / "persons_bad.csv")
    write_csv(persons_expected, out / "persons_bad_expected.csv")
    buildings_bad, buildings_expected = bad_buildings(area.vacant[0], area.communities, bad_rng)
    write_shapefile(buildings_bad, out / "buildings_bad.shp")
    write_csv(buildings_expected, out / "buildings_bad_expected.csv")
    return figures(sample, persons_expected, buildings_expected)


def figures(sample: Sample, persons_expected: pd.DataFrame, buildings_expected: pd.DataFrame) -> dict[str, object]:
    b, d, p = sample.area.buildings, sample.dwellings, sample.persons
    linked = p["dwelling_id"] != ""
    per_comm = []
    for code, name in COMMUNITY_NAMES.items():
        bb = b[b["community_code"] == code]
        dd = d[d["community_code"] == code]
        occupied = dd["use"].isin(("自住", "出租"))
        pp = p[p["dwelling_id"].isin(dd["dwelling_id"])]
        per_comm.append(
            f"| {code} | {name} | {int((sample.area.compounds['community_code'] == code).sum())} | {len(bb)} "
            f"| {int(bb['dwellings'].sum()):,} | {int(occupied.sum()):,} | {len(pp):,} |"
        )
    uses = b["use"].value_counts()
    return {
        "n_communities": len(sample.area.communities),
        "n_compounds": len(sample.area.compounds),
        "n_buildings": len(b),
        "uses": ", ".join(f"{zh} {int(uses.get(k, 0))}" for k, zh in USES_ZH.items()),
        "n_dwellings": len(d),
        "dwelling_uses": ", ".join(f"{k} {v:,}" for k, v in d["use"].value_counts().items()),
        "occupied": d["use"].isin(("自住", "出租")).mean(),
        "n_persons": len(p),
        "link_rate": linked.mean(),
        "n_unlinked": int((~linked).sum()),
        "households": int(p.loc[linked, "dwelling_id"].nunique()),
        "hh_size": linked.sum() / p.loc[linked, "dwelling_id"].nunique(),
        "residence": ", ".join(f"{k} {v:.1%}" for k, v in p["residence_type"].value_counts(normalize=True).items()),
        "ethnicity": ", ".join(f"{k} {v:.1%}" for k, v in p["ethnicity"].value_counts(normalize=True).items()),
        "mongol_names": p["name"].map(is_mongolian_style).mean(),
        "care": ", ".join(
            f"{k} {v}" for k, v in p["care_tags"].str.split(";").explode().loc[lambda s: s != ""].value_counts().items()
        ),
        "max_building": int(b["dwellings"].max()),
        "per_community": "\n".join(per_comm),
        "n_persons_bad": len(persons_expected),
        "persons_bad_reasons": ", ".join(
            f"{k} {v}" for k, v in persons_expected["expected_reason"].value_counts().sort_index().items()
        ),
        "n_buildings_bad": len(buildings_expected),
    }


README = """# Sample street: 呼和浩特市新城区中山东路街道 (synthetic)

**Synthetic data.** The street, its code ({street_code}) and its four communities are real (NBS 2023
division codes) and the map sits where the street is (about 111.676-111.698 E, 40.812-40.822 N), but
roads, compounds, buildings, households, names, phone numbers and ID numbers are all invented. ID
numbers are valid in form (real Inner Mongolia county codes, correct check digits) but belong to no one.

Generated with `python -m sample_shapefiles.generate` (seed {seed}, from the repository root) by
`geo/synth/` — the same code makes city-sized data sets (`geo.synth.generate_city`). Running it again
gives byte-identical files.

## Files

| file | what |
|---|---|
| `communities.shp` | the 4 communities (社区), polygons tiling the street without gaps or overlaps; boundaries run along road centre lines |
| `compounds.shp` | {n_compounds} walled compounds (小区) |
| `buildings.shp` | {n_buildings} building footprints |
| `dwellings.csv` | {n_dwellings:,} dwellings (one row per dwelling; a building has as many rows as its 户数) |
| `persons.csv` | {n_persons:,} residents |
| `persons_bad.csv` | {n_persons_bad} faulty or awkward person rows for sync tests |
| `persons_bad_expected.csv` | the expected outcome of each row of `persons_bad.csv` |
| `buildings_bad.shp` | {n_buildings_bad} faulty and valid building features for import tests |
| `buildings_bad_expected.csv` | the expected outcome of each feature of `buildings_bad.shp` |
| `generate.py` | the script that writes all of the above |

(`nmg_divisions.csv`, if present here, is the real division-code list and is not generated.)

## Shapefiles

- **CRS**: CGCS2000 / 3-degree Gauss-Krüger CM 111°E, **EPSG:4546** (metres; `.prj` written). Re-project
  to EPSG:4490 for storage.
- **Encoding**: attribute text and field names in **GBK**, with a `.cpg` file containing `GBK`, as planners'
  files usually arrive. Field names are Chinese and at most 10 bytes (5 characters) long.
- Features are in id order. The DBF header date is fixed (2024-06-30) so the files are reproducible.

`communities.shp`: `代码` 12-digit community code (text), `名称` name as used in addresses (新华社区).

`compounds.shp`: `编号` compound id (XQ001…), `名称` name (幸福小区, 电力家属院, 锡林花园…), `社区代码`.

`buildings.shp`:

| field | meaning |
|---|---|
| `编号` | stable building id, B000001…, unique |
| `楼号` | building number inside its compound (`3号楼`; some compounds skip 4号楼), `平房区12号` for bungalows, the shop's name for shops, `教学楼`/`办公楼` for schools and offices |
| `名称` | optional name (中山东路小学, 新华便民超市, 中山东路街道办事处) |
| `层数` | storeys (≥ 1) |
| `单元数` | stairwell units (≥ 1) |
| `户数` | planned dwellings (0 for shops, the school and offices) |
| `小区编号` | compound id, empty outside compounds (GDAL reads the empty text as NULL) |
| `社区代码` | community code |
| `用途` | 住宅 / 平房 / 商业 / 学校 / 办公 |

Building mix: {uses}. Residential slabs are walk-ups (6-7 storeys, 2 dwellings per unit and floor),
mid-rises (11-18, 2-3) and towers (24-33, 3-4) with 2-6 units about 15 m long and 12-19 m deep; the
bungalow (平房) lanes in 中山社区 have houses of about 8 × 10 m with one dwelling each. Exactly one tower
has more than 500 dwellings ({max_building}: 33 floors × 4 units × 4). Every building lies inside its
community and compound; no two footprints overlap.

## Tables (UTF-8, header row)

`dwellings.csv`: `dwelling_id` (D0000001…), `building_id` (the building's 编号), `unit`, `floor`, `room`
(floor × 100 + position: 501, 1502; `1` for bungalows), `address` (standard form:
`呼和浩特市新城区中山东路街道新华社区幸福小区3号楼2单元501室`; bungalows end with the house number),
`use` (自住 / 出租 / 空置 / 商用). Uses: {dwelling_uses}; {occupied:.1%} occupied (自住 + 出租).

`persons.csv`: `id_number` (18 digits, valid check digit; region = Inner Mongolia county codes, mostly
Hohhot 1501xx, a few retired codes such as 150111 呼和浩特市郊区 or 152701 东胜市), `name`, `sex` (agrees
with the ID's sequence parity), `ethnicity`, `birth_date` (agrees with the ID), `phone` (11-digit mobile or
empty: children, some elderly), `residence_type` (常住 / 流动 / 寄住), `relation` (to the household head:
户主 / 配偶 / 子女 / 父母 / 孙子女 / 兄弟姐妹 / 其他), `care_tags` (`;`-separated, mostly empty),
`dwelling_id` (empty for unlinked residents), `address` (as the police system holds it: mostly standard,
some as `幸福小区3-2-501`, `3栋2单元5楼1号`, `三号楼`, `3#楼`, full-width digits, `呼市`, or without the unit;
unlinked residents have an address that matches no dwelling).

Households are families: one 户主 per occupied dwelling, spouses of the other sex and similar age, children
20-38 years younger than their mother, parents of the head 22-35 years older; let (出租) dwellings hold
mostly 流动 tenants. Vacant and 商用 dwellings have nobody.

- {households:,} households, {hh_size:.2f} persons per household
- residence type: {residence}
- ethnicity: {ethnicity}; Mongolian-style names (巴特尔, 其其格, 孟和巴雅尔…): {mongol_names:.1%}
- care tags: {care}
- link rate (人房关联完善率): **{link_rate:.2%}** ({n_unlinked} residents without a dwelling)

## Per community

| code | community | compounds | buildings | planned dwellings (户数) | occupied dwellings | residents linked |
|---|---|---|---|---|---|---|
{per_community}

团结社区 is too small for two grids of 300-500 households; the other three need roughly 9-17 grids each.

## Faulty data

`persons_bad.csv` has the columns of `persons.csv`; `persons_bad_expected.csv` has `line_no` (data row,
counted from 1 after the header), `expected_reason` and a `note`. Each row has one fault (or a form that
becomes valid after normalisation). Reasons: {persons_bad_reasons}. Codes starting `ok_` are accepted:
`ok_legacy_15` a 15-digit number (upgrade to 18 digits), `ok_normalised` lower-case x, full-width digits or
blanks, `ok_duplicate_same` an exact repeat of a persons.csv row (no change), `ok_rare_char` a name with a
character outside GBK. `duplicate_conflict` reuses an ID number from persons.csv with another name and
dwelling; `dwelling_unknown` names a dwelling that does not exist.

`buildings_bad.shp` has the fields, CRS and encoding of `buildings.shp` (ids B9xxxxx, distinct from the good
ones except for the deliberate duplicate). `buildings_bad_expected.csv` has `row` (feature index, from 0),
`编号`, `expected` (`inserted`, `repaired`, or `rejected:<reason>`) and a `note`. The features sit on a
vacant parcel of 迎宾南路社区 and overlap no building of `buildings.shp`: a bow-tie, an inward zero-area
spike and a doubly-traversed ring (all repairable without changing the extent), a building 1.5 km outside the
street, one whose 社区代码 names another community, an 编号 used twice (both rejected), 层数 NULL, 层数 = 0,
an unparseable 社区代码, a null geometry, and four valid buildings.

## Bigger data sets

The same rules build a Hohhot-sized city for benchmarks:

```python
from geo.synth import generate_city

city = generate_city(n_communities=500, seed=1)   # EPSG:4546 GeoDataFrames, ~5 s
dwellings = city.dwellings(seed=2)                 # ~2 million rows
for chunk in city.iter_persons(dwellings, seed=3):  # ~4.3 million residents, 200,000 dwellings a chunk
    ...
```

It has about 168,000 buildings (half the communities have bungalow lanes, one in eight is an urban village),
uses the real Hohhot 街道/社区 codes of 新城区, 回民区, 玉泉区 and 赛罕区 first (259 of the 500) and synthesises further codes
in the same 12-digit pattern.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    sample = generate_street(args.seed)
    figs = write_sample(sample, args.out, args.seed)
    (args.out / "README.md").write_text(
        README.format(street_code=STREET_CODE, seed=args.seed, **figs),
        encoding="utf-8",
        newline="\n",
    )
    print(
        f"wrote {args.out}: {figs['n_communities']} communities, {figs['n_compounds']} compounds, "
        f"{figs['n_buildings']} buildings, {figs['n_dwellings']:,} dwellings, {figs['n_persons']:,} persons "
        f"(link rate {figs['link_rate']:.2%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
