"""A MapLibre style (v8) drawing every GridMap tile layer from this server, with no external basemap.

Labels: the ``labels`` layer is drawn as circles (community, grid, building points), because
text needs a glyph server and GridMap vendors no fonts (CJK glyph sets run to tens of MB). Set
``GRIDMAP_TILES_GLYPHS`` (or pass ``?glyphs=URL``, a ``{fontstack}/{range}.pbf`` template) and the
style adds text symbol layers using ``GRIDMAP_TILES_FONT``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import EngineDep
from geo.db import tiles

router = APIRouter(tags=["tiles"])

#: grids by household band (300-500 is the policy band)
BAND_COLOURS = [
    "step",
    ["coalesce", ["get", "households"], 0],
    "#f4a261",  # < 300: under-sized
    300,
    "#8ecae6",  # 300-500: in band
    501,
    "#e76f51",  # > 500: over-sized
]


def _source(request: Request, layer: str, plan: int | None) -> dict:
    url = f"{str(request.base_url).rstrip('/')}/tiles/{layer}.json"
    return {"type": "vector", "url": url + (f"?plan={plan}" if plan is not None else "")}


def _kind(kind: str) -> list:
    return ["==", ["get", "kind"], kind]


def style_layers(glyphs: bool, font: str) -> list[dict]:
    """The style's layers, bottom to top."""
    layers: list[dict] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#f6f4ef"}},
        {
            "id": "communities-fill",
            "type": "fill",
            "source": "communities",
            "source-layer": "communities",
            "paint": {"fill-color": "#ece6d9", "fill-opacity": 0.7},
        },
        {
            "id": "grids-fill",
            "type": "fill",
            "source": "grids",
            "source-layer": "grids",
            "minzoom": tiles.LAYERS["grids"].minzoom,
            "paint": {"fill-color": BAND_COLOURS, "fill-opacity": 0.35},
        },
        {
            "id": "compounds-line",
            "type": "line",
            "source": "compounds",
            "source-layer": "compounds",
            "minzoom": tiles.LAYERS["compounds"].minzoom,
            "paint": {"line-color": "#7a7a7a", "line-width": 1, "line-dasharray": [3, 2]},
        },
        {
            "id": "buildings-fill",
            "type": "fill",
            "source": "buildings",
            "source-layer": "buildings",
            "minzoom": tiles.LAYERS["buildings"].minzoom,
            "paint": {
                "fill-color": [
                    "interpolate",
                    ["linear"],
                    ["coalesce", ["get", "floors"], 1],
                    1,
                    "#d9d2c5",
                    6,
                    "#b8ab96",
                    18,
                    "#8c7b62",
                    33,
                    "#5e5140",
                ],
                "fill-opacity": 0.9,
            },
        },
        {
            "id": "buildings-line",
            "type": "line",
            "source": "buildings",
            "source-layer": "buildings",
            "minzoom": 15,
            "paint": {"line-color": "#4a4037", "line-width": 0.5},
        },
        {
            "id": "grids-line",
            "type": "line",
            "source": "grids",
            "source-layer": "grids",
            "minzoom": tiles.LAYERS["grids"].minzoom,
            "paint": {"line-color": "#264653", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 0.5, 16, 2]},
        },
        {
            "id": "communities-line",
            "type": "line",
            "source": "communities",
            "source-layer": "communities",
            "paint": {"line-color": "#6d597a", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 1, 16, 3]},
        },
        {
            "id": "labels-community",
            "type": "circle",
            "source": "labels",
            "source-layer": "labels",
            "filter": _kind("community"),
            "paint": {
                "circle-radius": 5,
                "circle-color": "#6d597a",
                "circle-stroke-color": "#ffffff",
                "circle-stroke-width": 1,
            },
        },
        {
            "id": "labels-grid",
            "type": "circle",
            "source": "labels",
            "source-layer": "labels",
            "filter": _kind("grid"),
            "paint": {
                "circle-radius": ["interpolate", ["linear"], ["coalesce", ["get", "households"], 0], 0, 3, 500, 8],
                "circle-color": BAND_COLOURS,
                "circle-stroke-color": "#264653",
                "circle-stroke-width": 1,
            },
        },
        {
            "id": "labels-building",
            "type": "circle",
            "source": "labels",
            "source-layer": "labels",
            "filter": _kind("building"),
            "paint": {"circle-radius": 2.5, "circle-color": "#264653"},
        },
    ]
    if glyphs:
        text = {"text-font": [font], "text-size": 12, "text-allow-overlap": False}
        halo = {"text-color": "#222222", "text-halo-color": "#ffffff", "text-halo-width": 1.5}
        layers += [
            {
                "id": "labels-community-text",
                "type": "symbol",
                "source": "labels",
                "source-layer": "labels",
                "filter": _kind("community"),
                "layout": {**text, "text-field": ["get", "label"], "text-size": 14, "text-offset": [0, 1]},
                "paint": halo,
            },
            {
                "id": "labels-grid-text",
                "type": "symbol",
                "source": "labels",
                "source-layer": "labels",
                "filter": _kind("grid"),
                "layout": {
                    **text,
                    "text-field": [
                        "format",
                        ["slice", ["get", "code"], 12],
                        {},
                        "\n",
                        {},
                        ["to-string", ["coalesce", ["get", "households"], ""]],
                        {},
                        " 户",
                        {},
                    ],
                    "text-offset": [0, 1.2],
                },
                "paint": halo,
            },
            {
                "id": "labels-building-text",
                "type": "symbol",
                "source": "labels",
                "source-layer": "labels",
                "filter": _kind("building"),
                "layout": {**text, "text-field": ["get", "label"], "text-size": 11, "text-offset": [0, 0.8]},
                "paint": halo,
            },
        ]
    return layers


def style_document(
    request: Request, font: str, bounds: list[float] | None, plan: int | None, glyphs: str | None
) -> dict:
    west, south, east, north = bounds or [73.5, 18.0, 135.0, 53.5]  # China when there is no data
    doc: dict = {
        "version": 8,
        "name": "GridMap",
        "metadata": {
            "gridmap:plan": plan,
            "gridmap:labels": "text (glyphs configured)" if glyphs else "circles (no glyph server configured)",
        },
        "center": [round((west + east) / 2, 7), round((south + north) / 2, 7)],
        "zoom": 14 if bounds else 4,
        "sources": {
            layer: _source(request, layer, plan if spec.plan_aware else None) for layer, spec in tiles.LAYERS.items()
        },
        "layers": style_layers(bool(glyphs), font),
    }
    if glyphs:
        doc["glyphs"] = glyphs
    return doc


@router.get("/styles/gridmap.json", summary="MapLibre style drawing every tile layer from this server")
def gridmap_style(
    request: Request,
    engine: EngineDep,
    plan: Annotated[int | None, Query(description="show this grid plan instead of the active plans")] = None,
    glyphs: Annotated[
        str | None, Query(description="glyph URL template ({fontstack}/{range}.pbf) for text labels")
    ] = None,
) -> JSONResponse:
    # imported here: api.routes.tiles includes this router (served with the tiles)
    from api.routes.tiles import select_plan, tile_state

    state = tile_state(request)
    with engine.connect() as conn:
        plan_id = select_plan(conn, request, tiles.LAYERS["grids"], plan)
        versions = tiles.version_key("communities", tiles.read_versions(conn), None)
        bkey = ("communities", None, versions)
        if bkey not in state.bounds:
            state.bounds[bkey] = tiles.layer_bounds(conn, "communities")
    doc = style_document(request, state.settings.font, state.bounds[bkey], plan_id, glyphs or state.settings.glyphs)
    return JSONResponse(doc, headers={"Cache-Control": "no-cache"})
