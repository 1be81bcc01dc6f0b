/* GridMap planner page (/planner): propose or open a community's grid plan, move buildings between
 * grids or redraw a boundary, watch the validation, undo, compare with the active plan, approve.
 * Every edit is a call to the plans API, which saves the draft at once; undo replays the inverse
 * moves (the previous grid of every building that changed). */
(function () {
  "use strict";
  var GM = window.GM, esc = GM.esc, fmt = GM.fmt, $ = GM.$;

  var BAND = { ok: "#2e9e5b", under: "#e69b00", over: "#d9363e", fixed: "#8c8c8c" };
  var BAND_TEXT = { ok: "达标", under: "偏少", over: "偏多", fixed: "专属" };
  var PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
    "#e15759", "#86bcb6", "#8cd17d", "#d4a6c8", "#a0cbe8", "#ffbe7d"];
  var STATUS_TEXT = { draft: "草稿", active: "现行", retired: "历史", discarded: "已废弃" };
  var REASONS = {
    compound_split: "超过上限的小区按楼栋拆分",
    compound_extra_split: "为保持网格连通，个别小区多拆分了一次",
    compound_disconnected: "小区本身不连片",
    no_household_buildings: "无住户楼栋（商铺、学校等）并入相邻网格",
    rebalance: "基于现行方案调整，尽量让住户留在原网格",
    band_infeasible_total: "社区总户数无法全部落在户数区间内",
    band_infeasible_layout: "楼栋布局使部分网格无法达标",
    band_not_reached: "部分网格未能调整到户数区间内",
    under_band_total: "社区总户数少于下限，只划一个网格",
    tower_not_split: "高层楼栋未拆分",
    dedicated_excluded: "专属网格不参与户数平衡",
    detached_area: "存在飞地",
    isolated_part: "存在孤立片区",
    outside_community: "有楼栋在社区边界外"
  };

  var S = {
    user: null,
    communities: null,
    community: "",
    plan: null,
    validation: null,
    grids: null,
    buildings: null,
    selected: {},
    mode: "select",
    draw: [],
    diff: null,
    prevHouseholds: null,
    busy: false
  };
  var undoStacks = {};
  var FIT = { paddingTopLeft: [20, 20], paddingBottomRight: [310, 20], animate: false };

  // -- map and layers ---------------------------------------------------------------------------------
  var map = GM.map("map");
  var communityLayer = L.geoJSON(null, {
    interactive: false,
    style: function (f) {
      var here = f.properties.code === S.community;
      return { color: here ? "#333" : "#999", weight: here ? 2.5 : 1, dashArray: "6 4", fill: false };
    }
  }).addTo(map);
  var gridLayer = L.layerGroup().addTo(map);
  var buildingLayer = L.layerGroup().addTo(map);
  var labelLayer = L.layerGroup().addTo(map);
  var drawLayer = L.layerGroup().addTo(map);
  var buildingLayers = {};

  function gridNo(code) {
    return parseInt(String(code).slice(-3), 10);
  }

  function gridName(code) {
    var f = S.grids && S.grids.features.filter(function (x) { return x.properties.code === code; })[0];
    var n = f && f.properties.name;
    if (n) return n.replace(/^.*社区(?=第)/, "");
    return "第" + gridNo(code) + "网格";
  }

  function gridColor(code) {
    return PALETTE[(gridNo(code) - 1 + PALETTE.length) % PALETTE.length];
  }

  function gridStyle(f) {
    var c = BAND[f.properties.band] || BAND.fixed;
    return { color: c, weight: 2.5, opacity: 0.95, fillColor: c, fillOpacity: 0.16 };
  }

  function buildingStyle(p) {
    var sel = !!S.selected[p.id];
    var moved = S.diff && S.diff[p.id];
    return {
      color: sel ? "#0b2e6b" : moved ? "#c000c0" : "#333",
      weight: sel ? 2.5 : moved ? 3 : 0.6,
      dashArray: moved && !sel ? "4 3" : null,
      fillColor: sel ? "#1f6feb" : gridColor(p.grid_code),
      fillOpacity: sel ? 0.9 : 0.75
    };
  }

  function restyleBuildings() {
    Object.keys(buildingLayers).forEach(function (k) {
      buildingLayers[k].forEach(function (l) { l.setStyle(buildingStyle(l.feature.properties)); });
    });
  }

  function ringCentre(geom) {
    var ring = geom.type === "MultiPolygon" ? geom.coordinates[0][0] : geom.coordinates[0];
    var x = 0, y = 0, n = Math.max(ring.length - 1, 1);
    for (var i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
    return [x / n, y / n];
  }

  /* A label point inside the grid: the centre of its building nearest the centre of its extent
   * (`buildings` in map coordinates). */
  function labelPoint(gridFeature, gridLeafletLayer, buildings) {
    var c = gridLeafletLayer.getBounds().getCenter();
    var best = null, bestD = Infinity;
    buildings.features.forEach(function (b) {
      if (b.properties.grid_code !== gridFeature.properties.code) return;
      var p = ringCentre(b.geometry);
      var d = (p[0] - c.lng) * (p[0] - c.lng) + (p[1] - c.lat) * (p[1] - c.lat);
      if (d < bestD) { bestD = d; best = p; }
    });
    return best ? L.latLng(best[1], best[0]) : c;
  }

  function render() {
    gridLayer.clearLayers();
    buildingLayer.clearLayers();
    labelLayer.clearLayers();
    buildingLayers = {};
    if (!S.grids || !S.buildings) return;
    var interactive = S.mode === "select" && S.plan && S.plan.status === "draft";
    var grids = GM.toMap(S.grids);
    var buildings = GM.toMap(S.buildings);
    L.geoJSON(grids, {
      interactive: false,
      style: gridStyle,
      onEachFeature: function (f, layer) {
        var p = f.properties;
        var cls = "gm-grid-label band-" + p.band;
        var prev = S.prevHouseholds ? S.prevHouseholds[p.code] : undefined;
        var delta = prev !== undefined && prev !== p.households ? p.households - prev : 0;
        L.tooltip({ permanent: true, direction: "center", className: cls, interactive: false })
          .setLatLng(labelPoint(f, layer, buildings))
          .setContent("<b>" + esc(gridName(p.code)) + "</b><span class=\"hh\" data-grid=\"" + esc(p.code) + "\">" +
            fmt(p.households) + " 户</span>" + (delta ? " <small>(" + (delta > 0 ? "+" : "") + delta + ")</small>" : ""))
          .addTo(labelLayer);
      }
    }).addTo(gridLayer);
    L.geoJSON(buildings, {
      interactive: interactive,
      bubblingMouseEvents: false,
      style: function (f) { return buildingStyle(f.properties); },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        (buildingLayers[p.id] = buildingLayers[p.id] || []).push(layer);
        layer.bindTooltip(esc((p.compound ? p.compound + " " : "") + (p.number || p.id)) +
          (p.part ? "（" + esc(p.part) + "单元）" : "") + "<br>" + fmt(p.households) + " 户 · " +
          esc(gridName(p.grid_code)), { sticky: true });
        layer.on("click", function (ev) { clickBuilding(p, ev.originalEvent); });
      }
    }).addTo(buildingLayer);
    var el = map.getContainer();
    el.classList.toggle("drawing", S.mode === "draw");
  }

  // -- side panel -----------------------------------------------------------------------------------
  function planInfo() {
    var p = S.plan;
    if (!p) { $("#plan-info").innerHTML = ""; return; }
    var s = p.summary || {};
    var reasons = (s.reasons || []).map(function (r) { return REASONS[r] || r; });
    var uniq = reasons.filter(function (r, i) { return reasons.indexOf(r) === i; });
    $("#plan-info").innerHTML =
      "<p>方案 <b>#" + p.id + "</b> <span class=\"status status-" + esc(p.status) + "\" id=\"plan-status\">" +
      esc(STATUS_TEXT[p.status] || p.status) + "</span>" +
      (p.base_plan_id ? " · 基于现行方案 #" + p.base_plan_id : "") + "<br>" +
      fmt(S.grids ? S.grids.features.length : s.grids) + " 个网格 · " + fmt(s.households) + " 户" +
      (p.created_by ? " · " + esc(p.created_by) : "") +
      (p.created_at ? " · " + esc(String(p.created_at).slice(0, 16).replace("T", " ")) : "") + "</p>" +
      (uniq.length || s.explanation ? "<details class=\"hint\"><summary>方案说明</summary><ul>" +
        uniq.map(function (r) { return "<li>" + esc(r) + "</li>"; }).join("") + "</ul>" +
        (s.explanation ? "<p lang=\"en\">" + esc(s.explanation) + "</p>" : "") + "</details>" : "") +
      (p.status !== "draft" ? "<p class=\"hint\">此方案不是草稿，只能查看；要修改请“生成新方案”（基于现行方案）。</p>" : "");
  }

  function validationPanel() {
    var v = S.validation;
    if (!v) return;
    var lo = v.band[0], hi = v.band[1];
    var basic = v.grids.filter(function (g) { return g.kind === "basic"; });
    var inBand = basic.filter(function (g) { return g.in_band; }).length;
    var broken = basic.filter(function (g) { return !g.contiguous; });
    var split = v.compounds_split || [];
    var avoidable = split.filter(function (c) { return c.avoidable; });
    var gap = v.gap_m2 || 0, overlap = v.overlap_m2 || 0;
    var rows = v.grids.map(function (g) {
      var band = g.kind !== "basic" ? "fixed" : g.households < lo ? "under" : g.households > hi ? "over" : "ok";
      var prev = S.prevHouseholds ? S.prevHouseholds[g.code] : undefined;
      var changed = prev !== undefined && prev !== g.households;
      return "<tr class=\"band-" + band + (changed ? " changed" : "") + "\" data-grid=\"" + esc(g.code) + "\">" +
        "<td><i class=\"swatch\" style=\"background:" + gridColor(g.code) + "\"></i>" + esc(gridName(g.code)) + "</td>" +
        "<td class=\"num hh\">" + fmt(g.households) +
        (changed ? " <small>(" + (g.households > prev ? "+" : "") + (g.households - prev) + ")</small>" : "") + "</td>" +
        "<td class=\"num\">" + fmt(g.buildings) + "</td>" +
        "<td>" + BAND_TEXT[band] + (g.contiguous ? "" : " · 不连通") + "</td></tr>";
    }).join("");
    $("#validation").innerHTML =
      "<ul class=\"checks\">" +
      "<li data-check=\"band\" class=\"" + (inBand === basic.length ? "ok" : "warn") + "\">户数区间 " + lo + "–" + hi +
      " 户：" + basic.length + " 个网格中 <b id=\"in-band\">" + inBand + "</b> 个达标</li>" +
      "<li data-check=\"contiguity\" class=\"" + (broken.length ? "warn" : "ok") + "\">" +
      (broken.length ? "不连通：" + broken.map(function (g) { return esc(gridName(g.code)); }).join("、") : "全部网格连通") + "</li>" +
      "<li data-check=\"coverage\" class=\"" + (v.covered ? "ok" : "warn") + "\">" +
      (v.covered ? "完整覆盖社区，无缝隙、无重叠" : "缝隙 " + fmt(Math.round(gap)) + " m²，重叠 " + fmt(Math.round(overlap)) + " m²") + "</li>" +
      "<li data-check=\"compounds\" class=\"" + (avoidable.length ? "warn" : "ok") + "\">" +
      (split.length ? split.length + " 个小区分属多个网格" + (avoidable.length ? "，其中 " + avoidable.length + " 个可避免" : "（均因户数超过上限）") : "没有小区被拆分") +
      "</li></ul>" +
      (split.length ? "<details><summary class=\"hint\">被拆分的小区</summary><ul class=\"hint\">" + split.map(function (c) {
        return "<li>" + esc(c.name || c.compound) + "：" + fmt(c.households) + " 户，分在 " + c.grids + " 个网格" +
          (c.avoidable ? "（可避免）" : "") + "</li>";
      }).join("") + "</ul></details>" : "") +
      "<table class=\"gt\"><thead><tr><th>网格</th><th class=\"num\">户数</th><th class=\"num\">楼栋</th><th>状态</th></tr></thead>" +
      "<tbody>" + rows + "</tbody></table>";
    Array.prototype.forEach.call($("#validation").querySelectorAll("tr[data-grid]"), function (tr) {
      tr.addEventListener("click", function () { focusGrid(tr.getAttribute("data-grid")); });
    });
  }

  function focusGrid(code) {
    if ($("#target").querySelector("option[value=\"" + code + "\"]")) $("#target").value = code;
    if ($("#draw-grid").querySelector("option[value=\"" + code + "\"]")) $("#draw-grid").value = code;
    gridLayer.eachLayer(function (g) {
      g.eachLayer(function (l) {
        if (l.feature.properties.code === code) {
          map.fitBounds(l.getBounds(), Object.assign({ maxZoom: 18 }, FIT));
        }
      });
    });
  }

  function gridOptions() {
    var opts = (S.grids ? S.grids.features : []).map(function (f) {
      var p = f.properties;
      return "<option value=\"" + esc(p.code) + "\"" + (p.kind !== "basic" ? " disabled" : "") + ">" + esc(gridName(p.code)) +
        "（" + fmt(p.households) + " 户）</option>";
    }).join("");
    ["#target", "#draw-grid"].forEach(function (sel) {
      var keep = $(sel).value;
      $(sel).innerHTML = opts;
      if (keep && $(sel).querySelector("option[value=\"" + keep + "\"]")) $(sel).value = keep;
    });
  }

  function selectionPanel() {
    var ids = Object.keys(S.selected);
    var el = $("#selection");
    if (!ids.length) {
      el.textContent = "未选中楼栋";
    } else {
      var hh = 0, from = {};
      var items = ids.map(function (id) {
        var parts = S.buildings.features.filter(function (f) { return f.properties.id === id; });
        var p = parts[0].properties;
        parts.forEach(function (f) { hh += f.properties.households || 0; from[f.properties.grid_code] = 1; });
        return "<li>" + esc((p.compound ? p.compound + " " : "") + (p.number || id)) + "（" + esc(gridName(p.grid_code)) + "，" +
          fmt(parts.reduce(function (a, f) { return a + (f.properties.households || 0); }, 0)) + " 户" +
          (parts.length > 1 ? "，整栋 " + parts.length + " 部分" : "") + "）</li>";
      });
      el.innerHTML = "已选 <b id=\"sel-count\">" + ids.length + "</b> 栋，共 " + fmt(hh) + " 户<ul>" + items.join("") + "</ul>";
      var t = $("#target");
      if (from[t.value]) {
        var other = Array.prototype.filter.call(t.options, function (o) { return !o.disabled && !from[o.value]; })[0];
        if (other) t.value = other.value;
      }
    }
    updateButtons();
  }

  function undoPanel() {
    var stack = currentUndo();
    $("#undo-list").innerHTML = stack.slice(-5).reverse().map(function (u) {
      return "<li>" + esc(u.label) + "</li>";
    }).join("");
  }

  function updateButtons() {
    var authed = S.user && (S.user.role === "planner" || S.user.role === "admin");
    var draft = !!(S.plan && S.plan.status === "draft");
    var idle = !S.busy;
    $("#propose").disabled = !(authed && S.community && idle);
    $("#plans").disabled = !(authed && S.community);
    $("#open").disabled = !(authed && $("#plans").value && idle);
    $("#mode-select").disabled = $("#mode-draw").disabled = !(draft && idle);
    $("#target").disabled = !(draft && idle);
    $("#move").disabled = !(draft && idle && Object.keys(S.selected).length && $("#target").value);
    $("#clear-sel").disabled = !Object.keys(S.selected).length;
    $("#draw-finish").disabled = !(draft && idle && S.draw.length >= 3);
    $("#draw-cancel").disabled = !S.draw.length;
    $("#undo").disabled = !(draft && idle && currentUndo().length);
    $("#save").disabled = !(draft && idle);
    $("#diff").disabled = !(S.plan && idle);
    $("#approve").disabled = !(draft && idle);
    $("#export-gpkg").disabled = $("#export-shp").disabled = !(S.plan && idle);
    $("#mode-select").classList.toggle("on", S.mode === "select");
    $("#mode-draw").classList.toggle("on", S.mode === "draw");
    $("#select-tools").hidden = S.mode !== "select";
    $("#draw-tools").hidden = S.mode !== "draw";
  }

  var bannerTimer = null;

  /* The message over the map; confirmations fade after a while, errors stay until the next action. */
  function banner(kind, text, detail) {
    clearTimeout(bannerTimer);
    if (kind === null) return GM.clearMessage($("#banner"));
    GM.message($("#banner"), kind, text, detail);
    if (kind === "ok") bannerTimer = setTimeout(function () { GM.clearMessage($("#banner")); }, 10000);
  }

  function fail(what, special) {
    return function (err) {
      GM.showError($("#banner"), err, what, special);
      if (err && err.status === 401) login.recheck();
      throw err;
    };
  }

  function busy(on, text) {
    S.busy = on;
    document.body.setAttribute("aria-busy", on ? "true" : "false");
    if (on && text) banner("info", text);
    updateButtons();
  }

  // -- loading ----------------------------------------------------------------------------------------
  function loadCommunities() {
    return GM.api("/communities.geojson").then(function (fc) {
      S.communities = fc;
      communityLayer.clearLayers().addData(GM.toMap(fc));
      var byStreet = {};
      fc.features.forEach(function (f) {
        var s = f.properties.street || f.properties.street_code || "";
        (byStreet[s] = byStreet[s] || []).push(f.properties);
      });
      var html = "<option value=\"\">请选择社区…</option>";
      Object.keys(byStreet).sort().forEach(function (s) {
        html += "<optgroup label=\"" + esc(s) + "\">" + byStreet[s].map(function (p) {
          return "<option value=\"" + esc(p.code) + "\">" + esc(p.name) + "（" + esc(p.code) + "）</option>";
        }).join("") + "</optgroup>";
      });
      $("#community").innerHTML = html;
      if (fc.features.length) map.fitBounds(communityLayer.getBounds(), FIT);
      var want = hashParams();
      if (want.community && $("#community").querySelector("option[value=\"" + want.community + "\"]")) {
        $("#community").value = want.community;
        return chooseCommunity(want.community, want.plan);
      }
    }).catch(fail("加载社区"));
  }

  function hashParams() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }

  function setHash() {
    var h = "#community=" + S.community + (S.plan ? "&plan=" + S.plan.id : "");
    if (location.hash !== h) history.replaceState(null, "", h);
  }

  function chooseCommunity(code, planId) {
    S.community = code;
    communityLayer.setStyle(communityLayer.options.style);
    communityLayer.eachLayer(function (l) {
      if (l.feature.properties.code === code) map.fitBounds(l.getBounds(), FIT);
    });
    updateButtons();
    if (!code || !S.user) return Promise.resolve();
    return loadPlanList(planId);
  }

  function loadPlanList(prefer) {
    var c = encodeURIComponent(S.community);
    return Promise.all([
      GM.api("/plans?community=" + c + "&status=draft"),
      GM.api("/plans?community=" + c + "&status=active")
    ]).then(function (r) {
      var drafts = r[0].slice().reverse(), active = r[1];
      var list = drafts.concat(active);
      $("#plans").innerHTML = list.length ? list.map(function (p) {
        return "<option value=\"" + p.id + "\">#" + p.id + " " + (STATUS_TEXT[p.status] || p.status) + " · " + p.grids +
          " 个网格" + (p.created_by ? " · " + esc(p.created_by) : "") + " · " +
          esc(String(p.created_at || "").slice(5, 16).replace("T", " ")) + "</option>";
      }).join("") : "<option value=\"\">（无方案，请生成）</option>";
      var pick = prefer && list.some(function (p) { return String(p.id) === String(prefer); }) ? String(prefer) :
        list.length ? String(list[0].id) : "";
      $("#plans").value = pick;
      updateButtons();
      if (pick) return openPlan(pick);
    }, fail("读取方案列表", { 403: "该社区不在您的管辖范围内" }));
  }

  function fetchLayers(id) {
    return Promise.all([
      GM.api("/plans/" + id + "/grids.geojson"),
      GM.api("/plans/" + id + "/buildings.geojson")
    ]).then(function (r) {
      S.grids = r[0];
      S.buildings = r[1];
    });
  }

  function openPlan(id) {
    busy(true, "正在打开方案 #" + id + "…");
    return Promise.all([GM.api("/plans/" + id), fetchLayers(id)]).then(function (r) {
      S.plan = r[0];
      S.validation = r[0].validation;
      S.selected = {};
      S.diff = null;
      S.prevHouseholds = null;
      S.draw = [];
      drawLayer.clearLayers();
      $("#diff-out").innerHTML = "";
      $("#diff-clear").hidden = true;
      GM.clearMessage($("#approve-out"));
      $("#approve-confirm").hidden = true;
      if (S.plan.status !== "draft") S.mode = "select";
      setHash();
      refreshAll();
      fitPlan();
      banner(null);
    }).catch(fail("打开方案", { 403: "此方案不在您的管辖范围内" })).finally(function () { busy(false); });
  }

  function fitPlan() {
    var b = null;
    gridLayer.eachLayer(function (l) { b = l.getBounds(); });
    if (b && b.isValid()) map.fitBounds(b, FIT);
  }

  function refreshAll() {
    render();
    planInfo();
    gridOptions();
    validationPanel();
    selectionPanel();
    undoPanel();
    updateButtons();
  }

  // -- selecting and moving -----------------------------------------------------------------------------
  function clickBuilding(p, ev) {
    if (S.mode !== "select" || !S.plan || S.plan.status !== "draft") return;
    if (ev && ev.shiftKey) {
      if (S.selected[p.id]) delete S.selected[p.id];
      else S.selected[p.id] = true;
    } else {
      var only = S.selected[p.id] && Object.keys(S.selected).length === 1;
      S.selected = {};
      if (!only) S.selected[p.id] = true;
    }
    restyleBuildings();
    selectionPanel();
  }

  /* building id → the grid code of each of its parts */
  function assignment() {
    var a = {};
    (S.buildings ? S.buildings.features : []).forEach(function (f) {
      var p = f.properties;
      (a[p.id] = a[p.id] || []).push(p.grid_code);
    });
    return a;
  }

  function currentUndo() {
    if (!S.plan) return [];
    var k = String(S.plan.id);
    if (!undoStacks[k]) {
      try { undoStacks[k] = JSON.parse(sessionStorage.getItem("gridmap.undo." + k) || "[]"); } catch (e) { undoStacks[k] = []; }
    }
    return undoStacks[k];
  }

  function saveUndo() {
    try { sessionStorage.setItem("gridmap.undo." + S.plan.id, JSON.stringify(currentUndo())); } catch (e) { /* fine */ }
  }

  /* The moves that put every building whose grid changed back where it was. */
  function inverseMoves(before, after) {
    var back = {};
    Object.keys(after).forEach(function (id) {
      var was = before[id], now = after[id];
      if (!was || was.join(",") === now.join(",")) return;
      var to = was[0];
      (back[to] = back[to] || []).push(id);
    });
    return Object.keys(back).map(function (to) { return { buildings: back[to], to: to }; });
  }

  function householdsByGrid() {
    var out = {};
    (S.grids ? S.grids.features : []).forEach(function (f) { out[f.properties.code] = f.properties.households; });
    return out;
  }

  /* Run one edit (a function returning the API's validation), re-fetch the layers, record the undo. */
  function edit(label, call, isUndo) {
    var id = S.plan.id;
    var before = assignment();
    var prevHH = householdsByGrid();
    busy(true, (isUndo ? "正在撤销：" : "正在保存：") + label + "…");
    return call().then(function (v) {
      return fetchLayers(id).then(function () {
        S.validation = v;
        S.prevHouseholds = prevHH;
        var inv = inverseMoves(before, assignment());
        if (!isUndo) {
          if (inv.length) {
            currentUndo().push({ label: label, moves: inv });
            saveUndo();
          }
        }
        S.selected = {};
        refreshAll();
        var n = Object.keys(before).filter(function (k) { return (before[k] || []).join() !== (assignment()[k] || []).join(); }).length;
        if (!n && !isUndo) banner("warn", label + "：没有楼栋改变网格，草稿未变。");
        else banner("ok", (isUndo ? "已撤销：" : "已保存到草稿：") + label + "（" + n + " 栋楼改变网格）");
      });
    }).catch(fail(isUndo ? "撤销" : label, {
      404: "楼栋或网格不在此方案中",
      409: "此方案已不是草稿，不能再修改",
      422: "输入无效（边界须为不自相交的多边形，且不能移入专属网格）"
    })).finally(function () { busy(false); });
  }

  function doMove() {
    var ids = Object.keys(S.selected);
    var to = $("#target").value;
    if (!ids.length || !to) return;
    var label = "移动 " + ids.length + " 栋楼到" + gridName(to);
    edit(label, function () {
      return GM.api("/plans/" + S.plan.id + "/moves", { method: "POST", body: { buildings: ids, to: to } });
    }).catch(function () {});
  }

  function doUndo() {
    var stack = currentUndo();
    if (!stack.length) return;
    var u = stack[stack.length - 1];
    var id = S.plan.id;
    edit(u.label, function () {
      var p = Promise.resolve(null);
      u.moves.forEach(function (m) {
        p = p.then(function () {
          return GM.api("/plans/" + id + "/moves", { method: "POST", body: { buildings: m.buildings, to: m.to } });
        });
      });
      return p;
    }, true).then(function () {
      stack.pop();
      saveUndo();
      undoPanel();
      updateButtons();
    }).catch(function () {});
  }

  function doSave() {
    busy(true);
    GM.api("/plans/" + S.plan.id).then(function (p) {
      S.plan = p;
      S.validation = p.validation;
      planInfo();
      validationPanel();
      banner("ok", "草稿 #" + p.id + " 已保存在服务器（每次修改都会立即保存）。");
    }).catch(fail("确认保存")).catch(function () {}).finally(function () { busy(false); });
  }

  // -- drawing a boundary ---------------------------------------------------------------------------
  var guide = null;

  function setMode(m) {
    S.mode = m;
    S.draw = [];
    drawLayer.clearLayers();
    guide = null;
    if (m === "draw") {
      map.doubleClickZoom.disable();
      var sel = Object.keys(S.selected)[0];
      var f = sel && S.buildings.features.filter(function (x) { return x.properties.id === sel; })[0];
      if (f) $("#draw-grid").value = f.properties.grid_code;
    } else {
      map.doubleClickZoom.enable();
    }
    S.selected = {};
    render();
    selectionPanel();
    sketch();
  }

  function sketch() {
    drawLayer.clearLayers();
    guide = null;
    if (S.draw.length) {
      var shape = S.draw.length >= 3 ? L.polygon(S.draw, { color: "#1f6feb", weight: 2, dashArray: "6 4", fillOpacity: 0.12, interactive: false }) :
        L.polyline(S.draw, { color: "#1f6feb", weight: 2, dashArray: "6 4", interactive: false });
      shape.addTo(drawLayer);
      S.draw.forEach(function (v) {
        L.circleMarker(v, { radius: 4, color: "#1f6feb", fillColor: "#fff", fillOpacity: 1, weight: 2, interactive: false }).addTo(drawLayer);
      });
    }
    $("#draw-count").textContent = S.draw.length ? "已添加 " + S.draw.length + " 个顶点" : "";
    updateButtons();
  }

  function cleanVertices() {
    var out = [];
    S.draw.forEach(function (ll) {
      var last = out[out.length - 1];
      if (!last || map.latLngToContainerPoint(ll).distanceTo(map.latLngToContainerPoint(last)) > 4) out.push(ll);
    });
    if (out.length > 1 && map.latLngToContainerPoint(out[0]).distanceTo(map.latLngToContainerPoint(out[out.length - 1])) <= 4) out.pop();
    return out;
  }

  function finishDraw() {
    var pts = cleanVertices();
    var code = $("#draw-grid").value;
    if (pts.length < 3) {
      banner("warn", "边界至少需要 3 个顶点，请继续在地图上单击。");
      return;
    }
    var ring = pts.map(GM.fromMap);
    ring.push(ring[0]);
    S.draw = [];
    sketch();
    edit("重绘" + gridName(code) + "边界", function () {
      return GM.api("/plans/" + S.plan.id + "/grids/" + code + "/boundary", {
        method: "PUT", body: { geometry: { type: "Polygon", coordinates: [ring] } }
      });
    }).catch(function () {});
  }

  map.on("click", function (ev) {
    if (S.mode === "draw" && S.plan && S.plan.status === "draft" && !S.busy) {
      S.draw.push(ev.latlng);
      sketch();
    } else if (S.mode === "select" && Object.keys(S.selected).length && !(ev.originalEvent && ev.originalEvent.shiftKey)) {
      S.selected = {};
      restyleBuildings();
      selectionPanel();
    }
  });
  map.on("dblclick", function () {
    if (S.mode === "draw" && S.draw.length) finishDraw();
  });
  map.on("mousemove", function (ev) {
    if (S.mode !== "draw" || !S.draw.length) return;
    var last = S.draw[S.draw.length - 1];
    if (!guide) guide = L.polyline([last, ev.latlng], { color: "#1f6feb", weight: 1, dashArray: "2 4", interactive: false }).addTo(drawLayer);
    else guide.setLatLngs([last, ev.latlng]);
  });
  document.addEventListener("keydown", function (ev) {
    if (S.mode !== "draw" || /INPUT|SELECT|TEXTAREA/.test(ev.target.tagName)) return;
    if (ev.key === "Escape") { S.draw = []; sketch(); }
    if (ev.key === "Backspace" && S.draw.length) { ev.preventDefault(); S.draw.pop(); sketch(); }
    if (ev.key === "Enter" && S.draw.length >= 3) finishDraw();
  });

  // -- compare, approve, export -----------------------------------------------------------------------
  function doDiff() {
    busy(true);
    GM.api("/plans/" + S.plan.id + "/diff").then(function (d) {
      S.diff = {};
      d.moves.forEach(function (m) { S.diff[m.ext_id] = m; });
      restyleBuildings();
      var names = {};
      S.buildings.features.forEach(function (f) { names[f.properties.id] = (f.properties.compound ? f.properties.compound + " " : "") + (f.properties.number || ""); });
      $("#diff-out").innerHTML =
        "<p id=\"diff-summary\">与现行方案 #" + d.other_id + " 相比：<b>" + d.buildings_moved + "</b> 栋楼改变网格，涉及 " +
        fmt(d.households_moved) + " 户；" + (d.households_kept_share === null ? "" : GM.pct(d.households_kept_share, 1) + " 的住户留在原网格。") +
        (d.grids_added.length ? "<br>新增网格：" + d.grids_added.map(function (c) { return esc(gridName(c)); }).join("、") : "") +
        (d.grids_removed.length ? "<br>撤销网格：" + d.grids_removed.map(esc).join("、") : "") + "</p>" +
        (d.moves.length ? "<p class=\"hint\"><i class=\"swatch\" style=\"border:2px dashed #c000c0\"></i>地图上紫色虚线框为改变网格的楼栋</p>" +
          "<ul class=\"moves\">" + d.moves.map(function (m) {
            return "<li>" + esc(names[m.ext_id] || m.ext_id) + (m.part ? "（" + esc(m.part) + "单元）" : "") + "：" +
              (m.before ? esc(gridName(m.before)) : "—") + " → " + (m.after ? esc(gridName(m.after)) : "—") + " · " + fmt(m.households) + " 户</li>";
          }).join("") + "</ul>" : "");
      $("#diff-clear").hidden = false;
      banner(null);
    }).catch(fail("对比", { 404: "该社区还没有现行方案，无法对比" })).catch(function () {}).finally(function () { busy(false); });
  }

  function clearDiff() {
    S.diff = null;
    restyleBuildings();
    $("#diff-out").innerHTML = "";
    $("#diff-clear").hidden = true;
  }

  function doApprove() {
    $("#approve-confirm").hidden = true;
    var id = S.plan.id;
    busy(true, "正在批准方案 #" + id + "…");
    GM.api("/plans/" + id + "/approve", { method: "POST" }).then(function (r) {
      banner(null);
      var msg = "方案 #" + id + " 已批准，成为现行网格" + (r.retired ? "；原方案 #" + r.retired + " 转为历史版本。" : "。");
      busy(false);
      S.mode = "select";
      // re-read the plan and its grid layer (now the community's active grids)
      return loadPlanList(id).then(function () {
        clearDiff();
        GM.message($("#approve-out"), "ok", msg);
      });
    }, function (err) {
      banner(null);
      var special = {
        409: "冲突——此草稿已不能批准：它可能已被批准，或在它生成之后该社区的现行方案已被他人更改。请刷新方案列表，必要时重新生成方案后再批准"
      };
      GM.showError($("#approve-out"), err, "批准", special);
      if (err.status === 409) $("#approve-out").setAttribute("data-conflict", "1");
    }).catch(fail("批准")).catch(function () {}).finally(function () { busy(false); });
  }

  function doExport(kind) {
    var id = S.plan.id;
    var url = kind === "gpkg" ? "/plans/" + id + "/export.gpkg" : "/plans/" + id + "/export.zip?encoding=GBK";
    busy(true, "正在导出…");
    GM.api(url, { raw: true }).then(function (r) { return r.blob(); }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "plan-" + id + (kind === "gpkg" ? ".gpkg" : ".zip");
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      banner("ok", "已导出 " + a.download + "（可在 QGIS 中打开）");
    }).catch(fail("导出")).catch(function () {}).finally(function () { busy(false); });
  }

  // -- wiring -----------------------------------------------------------------------------------------
  $("#community").addEventListener("change", function () {
    S.plan = null; S.grids = null; S.buildings = null; S.validation = null;
    refreshAll();
    $("#validation").innerHTML = "<p class=\"hint\">请打开或生成方案。</p>";
    chooseCommunity(this.value).then(setHash).catch(function () {});
  });
  $("#plans").addEventListener("change", updateButtons);
  $("#open").addEventListener("click", function () { openPlan($("#plans").value).catch(function () {}); });
  $("#propose").addEventListener("click", function () {
    busy(true, "正在生成方案，请稍候…");
    GM.api("/plans", { method: "POST", body: { community: S.community } }).then(function (r) {
      var id = r[0].plan_id;
      busy(false);
      return loadPlanList(id).then(function () {
        banner("ok", "已生成草稿 #" + id + "：" + r[0].grids + " 个网格，" + GM.pct(r[0].in_band_share, 0) + " 的网格户数达标。");
      });
    }).catch(fail("生成方案", { 403: "该社区不在您的管辖范围内" })).catch(function () {}).finally(function () { busy(false); });
  });
  $("#target").addEventListener("change", updateButtons);
  $("#move").addEventListener("click", doMove);
  $("#clear-sel").addEventListener("click", function () { S.selected = {}; restyleBuildings(); selectionPanel(); });
  $("#mode-select").addEventListener("click", function () { setMode("select"); });
  $("#mode-draw").addEventListener("click", function () { setMode("draw"); });
  $("#draw-finish").addEventListener("click", finishDraw);
  $("#draw-cancel").addEventListener("click", function () { S.draw = []; sketch(); });
  $("#undo").addEventListener("click", doUndo);
  $("#save").addEventListener("click", doSave);
  $("#diff").addEventListener("click", doDiff);
  $("#diff-clear").addEventListener("click", clearDiff);
  $("#approve").addEventListener("click", function () { GM.clearMessage($("#approve-out")); $("#approve-confirm").hidden = false; });
  $("#approve-no").addEventListener("click", function () { $("#approve-confirm").hidden = true; });
  $("#approve-yes").addEventListener("click", doApprove);
  $("#export-gpkg").addEventListener("click", function () { doExport("gpkg"); });
  $("#export-shp").addEventListener("click", function () { doExport("shp"); });

  var login = GM.loginBox($("#login"), function (u) {
    S.user = u;
    updateButtons();
    if (!u) {
      banner("info", "请先在右上角输入访问令牌登录（规划员或管理员）。");
    } else if (u.role !== "planner" && u.role !== "admin") {
      banner("error", "当前用户是" + (GM.ROLES[u.role] || u.role) + "，规划页面仅供规划员和管理员使用。");
    } else {
      banner(null);
      if (S.community) chooseCommunity(S.community, (S.plan && S.plan.id) || hashParams().plan).catch(function () {});
    }
  });
  loadCommunities();

  // for tests and debugging: the page's state (no token in it)
  window.gridmapPlanner = { state: S, map: map, openPlan: openPlan };
})();
