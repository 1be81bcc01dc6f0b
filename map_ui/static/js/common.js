/* GridMap pages: what the planner, worker and overview pages share.
 * - api(): JSON calls with the bearer token (kept in sessionStorage, never in a URL); errors as ApiError
 *   with a Chinese message per status (401, 403, 404, 409, 422, 503 …) and the server's detail;
 * - loginBox(): the token login box (checks the token with GET /me);
 * - map(): a Leaflet map with no basemap unless GRIDMAP_BASEMAP_URL is set; when that basemap is in
 *   GCJ-02 (Amap-like), toMap()/fromMap() shift GeoJSON and clicks between CGCS2000 and the basemap.
 * Plain script (no build step); exposes window.GM. */
(function () {
  "use strict";

  var TOKEN_KEY = "gridmap.token";
  var ROLES = { admin: "管理员", planner: "规划员", worker: "网格员", viewer: "查看员", sync: "同步任务" };
  var STATUS = {
    0: "无法连接服务器",
    400: "请求有误",
    401: "未登录或令牌无效",
    403: "无权访问",
    404: "未找到",
    409: "操作冲突",
    422: "输入有误",
    500: "服务器内部错误",
    503: "数据库暂不可用，请稍后再试"
  };

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(n) {
    return n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN");
  }

  function pct(r, digits) {
    return r === null || r === undefined ? "—" : (r * 100).toFixed(digits === undefined ? 2 : digits) + "%";
  }

  function $(sel, root) {
    return (root || document).querySelector(sel);
  }

  function h(tag, attrs, html) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") el.className = attrs[k];
      else if (k === "text") el.textContent = attrs[k];
      else el.setAttribute(k, attrs[k]);
    });
    if (html !== undefined) el.innerHTML = html;
    return el;
  }

  // -- configuration (the server writes it into <meta name="gridmap-config">) -------------------------
  var config = { basemap: { url: "", crs: "wgs84", attribution: "" } };
  try {
    var meta = document.querySelector('meta[name="gridmap-config"]');
    if (meta && meta.content && meta.content.charAt(0) === "{") config = JSON.parse(meta.content);
  } catch (e) { /* keep the defaults */ }

  // -- the token --------------------------------------------------------------------------------------
  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* private mode: the token lives as long as the page */ }
  }

  // -- API calls --------------------------------------------------------------------------------------
  function ApiError(status, body) {
    body = body || {};
    this.name = "ApiError";
    this.status = status;
    this.title = body.title || "";
    this.detail = body.detail || "";
    this.body = body;
    this.message = (STATUS[status] || "请求失败") + (status ? "（" + status + "）" : "") +
      (this.detail ? "：" + this.detail : "");
  }
  ApiError.prototype = Object.create(Error.prototype);

  function api(path, opts) {
    opts = opts || {};
    var headers = { Accept: "application/json, application/geo+json, application/problem+json" };
    var t = token();
    if (t) headers.Authorization = "Bearer " + t;
    var init = { method: opts.method || "GET", headers: headers, cache: "no-store", credentials: "omit" };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    return fetch(path, init).then(function (r) {
      if (opts.raw && r.ok) return r;
      if (r.status === 204) return null;
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { detail: text.slice(0, 200) }; }
        if (!r.ok) throw new ApiError(r.status, body);
        return body;
      });
    }, function (e) {
      throw new ApiError(0, { detail: String(e && e.message || e) });
    });
  }

  function setKind(el, kind) {
    ["error", "warn", "ok", "info"].forEach(function (k) { el.classList.remove("msg-" + k); });
    el.classList.add("msg");
    if (kind) el.classList.add("msg-" + kind);
    el.setAttribute("data-kind", kind || "");
  }

  /* A message box: kind is "error", "warn", "ok" or "info"; `what` says what failed, in Chinese. */
  function message(el, kind, text, detail) {
    if (!el) return;
    el.hidden = false;
    setKind(el, kind);
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.innerHTML = "<div class=\"msg-text\">" + esc(text) + "</div>" +
      (detail ? "<div class=\"msg-detail\">服务器说明：" + esc(detail) + "</div>" : "");
  }

  function clearMessage(el) {
    if (!el) return;
    el.hidden = true;
    setKind(el, null);
    el.innerHTML = "";
  }

  /* An ApiError as a Chinese sentence: `what` (e.g. "打开楼盘表") + what the status means. */
  function explain(err, what, special) {
    var s = err && err.status;
    var text = (special && special[s]) || STATUS[s] || "请求失败";
    return { text: (what ? what + "失败：" : "") + text + (s ? "（" + s + "）" : ""), detail: err && err.detail };
  }

  function showError(el, err, what, special) {
    var e = explain(err, what, special);
    message(el, "error", e.text, e.detail);
  }

  // -- the login box ----------------------------------------------------------------------------------
  /* Renders into `el`; calls onUser(user or null) once the state is known and on every change. */
  function loginBox(el, onUser) {
    function showForm(note) {
      el.innerHTML =
        "<form class=\"login-form\" method=\"post\" action=\"#\" autocomplete=\"off\">" +
        "<label for=\"gm-token\">访问令牌</label>" +
        "<input id=\"gm-token\" name=\"token\" type=\"password\" placeholder=\"粘贴 gm_… 令牌\" required>" +
        "<button type=\"submit\">登录</button>" +
        (note ? "<span class=\"login-note\">" + esc(note) + "</span>" : "") +
        "</form>";
      el.querySelector("form").addEventListener("submit", function (ev) {
        ev.preventDefault();
        var t = el.querySelector("input").value.trim();
        if (!t) return;
        setToken(t);
        check(true);
      });
      onUser(null);
    }
    function showUser(u) {
      el.innerHTML = "<span class=\"login-user\">当前用户：<b>" + esc(u.name) + "</b>（" +
        esc(ROLES[u.role] || u.role) + "）</span> <button type=\"button\" class=\"link\">退出</button>";
      el.querySelector("button").addEventListener("click", function () {
        setToken("");
        showForm("已退出");
      });
      onUser(u);
    }
    function check(fresh) {
      if (!token()) return showForm();
      api("/me").then(showUser, function (err) {
        if (err.status === 401) {
          setToken("");
          showForm(fresh ? "令牌无效或已吊销" : "登录已失效，请重新输入令牌");
        } else {
          el.innerHTML = "<span class=\"login-note\">" + esc(explain(err, "登录").text) + "</span>";
          onUser(null);
        }
      });
    }
    check(false);
    return { recheck: function () { check(false); } };
  }

  // -- GCJ-02 (for Amap-like basemaps) ------------------------------------------------------------------
  var A = 6378245.0;
  var EE = 0.00669342162296594323;

  function outOfChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function delta(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
      (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0 +
      (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0 +
      (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0 +
      (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * PI;
    var magic = 1 - EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * Math.cos(radlat) * PI);
    return [dlon, dlat];
  }

  function wgs84ToGcj02(lon, lat) {
    if (outOfChina(lon, lat)) return [lon, lat];
    var d = delta(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  function gcj02ToWgs84(lon, lat) {
    var w = [lon, lat];
    for (var i = 0; i < 3; i++) {
      var g = wgs84ToGcj02(w[0], w[1]);
      w = [w[0] - (g[0] - lon), w[1] - (g[1] - lat)];
    }
    return w;
  }

  var gcj = (config.basemap && config.basemap.url && config.basemap.crs === "gcj02");

  function mapCoords(c, fn) {
    if (typeof c[0] === "number") return fn(c[0], c[1]);
    return c.map(function (x) { return mapCoords(x, fn); });
  }

  function mapGeometry(g, fn) {
    if (!g) return g;
    if (g.type === "GeometryCollection") {
      return { type: g.type, geometries: g.geometries.map(function (x) { return mapGeometry(x, fn); }) };
    }
    return { type: g.type, coordinates: mapCoords(g.coordinates, fn) };
  }

  /* GeoJSON from the API (CGCS2000 ≈ WGS 84) → the map's coordinates (the same, or GCJ-02). */
  function toMap(gj) {
    if (!gcj || !gj) return gj;
    if (gj.type === "FeatureCollection") {
      return Object.assign({}, gj, { features: gj.features.map(toMap) });
    }
    if (gj.type === "Feature") {
      var p = gj.properties && gj.properties.at ?
        Object.assign({}, gj.properties, { at: wgs84ToGcj02(gj.properties.at[0], gj.properties.at[1]) }) :
        gj.properties;
      return Object.assign({}, gj, { properties: p, geometry: mapGeometry(gj.geometry, wgs84ToGcj02) });
    }
    return mapGeometry(gj, wgs84ToGcj02);
  }

  /* A map position (L.LatLng) → [lon, lat] in the storage CRS. */
  function fromMap(ll) {
    return gcj ? gcj02ToWgs84(ll.lng, ll.lat) : [ll.lng, ll.lat];
  }

  /* [lon, lat] in the storage CRS → L.LatLng on the map. */
  function latLng(lonlat) {
    var p = gcj ? wgs84ToGcj02(lonlat[0], lonlat[1]) : lonlat;
    return L.latLng(p[1], p[0]);
  }

  // -- the map ----------------------------------------------------------------------------------------
  function map(el, opts) {
    var b = config.basemap || {};
    var m = L.map(el, Object.assign({
      zoomSnap: 0.25,
      fadeAnimation: false, // labels are redrawn after every edit: no fading copies left behind
      maxZoom: b.url ? 19 : 21,
      attributionControl: true,
      preferCanvas: false
    }, opts || {}));
    m.attributionControl.setPrefix("Leaflet");
    if (b.url) {
      L.tileLayer(b.url, { maxZoom: 19, attribution: b.attribution || "" }).addTo(m);
    }
    L.control.scale({ metric: true, imperial: false }).addTo(m);
    m.setView([40.82, 111.68], 14);
    return m;
  }

  window.GM = {
    ROLES: ROLES,
    STATUS: STATUS,
    config: config,
    esc: esc,
    fmt: fmt,
    pct: pct,
    $: $,
    h: h,
    token: token,
    setToken: setToken,
    api: api,
    ApiError: ApiError,
    message: message,
    clearMessage: clearMessage,
    explain: explain,
    showError: showError,
    loginBox: loginBox,
    map: map,
    toMap: toMap,
    fromMap: fromMap,
    latLng: latLng,
    wgs84ToGcj02: wgs84ToGcj02,
    gcj02ToWgs84: gcj02ToWgs84
  };
})();
