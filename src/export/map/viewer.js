// micromarket's map viewer: draws one scope's cells, micro-markets and campaign from the data
// embedded in the page. Penetration, lift and Wilson intervals follow DESIGN.md's definitions,
// as in cells.geojson.
(function () {
  'use strict';

  var data = JSON.parse(document.getElementById('micromarket-data').textContent);
  var Z95 = 1.959963984540054;
  var NO_DATA = '#bdbdbd';
  var LIFT_BREAKS = [0.5, 0.8, 1.25, 2];
  var LIFT_COLOURS = ['#2166ac', '#92c5de', '#f7f7f7', '#f4a582', '#b2182b'];
  var SEQUENTIAL = ['#fef0d9', '#fdcc8a', '#fc8d59', '#e34a33', '#b30000'];

  // Little-endian integer arrays, packed by the exporter in the narrowest type.
  function unpack(packed) {
    var text = atob(packed.data);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var view = new DataView(bytes.buffer);
    var width = { u8: 1, i16: 2, u16: 2, i32: 4, u32: 4 }[packed.type];
    var read = {
      u8: function (o) { return view.getUint8(o); },
      i16: function (o) { return view.getInt16(o, true); },
      u16: function (o) { return view.getUint16(o, true); },
      i32: function (o) { return view.getInt32(o, true); },
      u32: function (o) { return view.getUint32(o, true); }
    }[packed.type];
    var out = new Float64Array(bytes.length / width);
    for (var j = 0; j < out.length; j++) out[j] = read(j * width);
    return out;
  }

  function wilson(k, n) {
    if (n === 0) return null;
    var p = k / n, z2 = Z95 * Z95, d = 1 + z2 / n;
    var centre = (p + z2 / (2 * n)) / d;
    var half = Z95 / d * Math.sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    return [Math.max(0, centre - half), Math.min(1, centre + half)];
  }

  function round6(x) { return Math.round(x * 1e6) / 1e6; }
  function percent(p) { return (p * 100).toFixed(p < 0.1 ? 2 : 1) + '%'; }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // Cells.
  var cells = data.cells;
  var centre = unpack(cells.centre), vertices = unpack(cells.vertices);
  var offsets = unpack(cells.offsets), population = unpack(cells.population);
  var segments = data.segments.map(function (s) {
    var hot = new Uint8Array(cells.ids.length);
    unpack(s.hot).forEach(function (at) { hot[at] = 1; });
    var market = new Uint8Array(cells.ids.length);
    unpack(s.market).forEach(function (at) { market[at] = 1; });
    return { name: s.name, members: s.members, baseRate: s.base_rate, count: unpack(s.count), gi: unpack(s.gi), hot: hot, market: market };
  });

  // The figures of cell i for segment s, as cells.geojson has them (null where hidden).
  function cellFigures(i, s) {
    var seg = segments[s], n = population[i], k = seg.count[i];
    var figures = { hex_id: cells.ids[i], population: n, count: null, penetration: null, penetration_low: null,
      penetration_high: null, lift: null, lift_low: null, lift_high: null, gi: seg.gi[i] / 100, hot: seg.hot[i] === 1, in_micromarket: seg.market[i] === 1,
      suppressed: k < 0 };
    if (k < 0) return figures;
    var interval = wilson(k, n);
    figures.count = k;
    figures.penetration = round6(k / n);
    figures.penetration_low = round6(interval[0]);
    figures.penetration_high = round6(interval[1]);
    if (seg.baseRate) {
      figures.lift = round6(k / n / seg.baseRate);
      figures.lift_low = round6(interval[0] / seg.baseRate);
      figures.lift_high = round6(interval[1] / seg.baseRate);
    }
    return figures;
  }

  var map = L.map('map', { preferCanvas: true, attributionControl: Boolean(data.basemap), zoomSnap: 0.25 });
  if (data.basemap) L.tileLayer(data.basemap, { attribution: 'base map: ' + escapeHtml(data.basemap) }).addTo(map);
  // Cells go on a canvas (tens of thousands of them); outlines on SVG, where an unfilled shape
  // catches clicks on its line only and lets the cells under it be clicked.
  var renderer = L.canvas({ padding: 0.3 });
  var outlines = L.svg({ padding: 0.3 });

  var boundary = L.geoJSON({ type: 'Feature', properties: {}, geometry: data.boundary }, {
    style: { color: '#222', weight: 2, fill: false, dashArray: '4 3' }, interactive: false, renderer: outlines
  });

  var cellLayer = L.featureGroup();
  var polygons = new Array(cells.ids.length);
  var at = 0;
  for (var i = 0; i < polygons.length; i++) {
    var lat = centre[2 * i] / 1e6, lng = centre[2 * i + 1] / 1e6, ring = [];
    for (var v = 0; v < vertices[i]; v++, at += 2) ring.push([lat + offsets[at] / 1e6, lng + offsets[at + 1] / 1e6]);
    polygons[i] = L.polygon(ring, { renderer: renderer, color: '#666', weight: 0.3, fillOpacity: 0.75 });
    polygons[i].cellIndex = i;
    cellLayer.addLayer(polygons[i]);
  }

  var state = { segment: 0, measure: 'lift', breaks: [], colours: [] };
  var marketLayer = L.featureGroup(), campaignLayer = L.featureGroup();

  function measureOf(i) {
    var f = cellFigures(i, state.segment);
    return state.measure === 'count' ? f.count : f[state.measure];
  }

  function quantileBreaks(values) {
    var sorted = values.filter(function (x) { return x !== null; }).sort(function (a, b) { return a - b; });
    var breaks = [];
    if (sorted.length === 0) return breaks;
    [0.2, 0.4, 0.6, 0.8].forEach(function (q) {
      var b = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      if (b > sorted[0] && (breaks.length === 0 || b > breaks[breaks.length - 1])) breaks.push(b);
    });
    return breaks;
  }

  function classOf(x) {
    if (x === null) return -1;
    var c = 0;
    while (c < state.breaks.length && x >= state.breaks[c]) c++;
    return c;
  }

  function colourOf(x) {
    var c = classOf(x);
    return c < 0 ? NO_DATA : state.colours[c];
  }

  function figureRows(rows) {
    return '<table class="mm-figures">' + rows.map(function (r) {
      return '<tr><th>' + escapeHtml(r[0]) + '</th><td data-field="' + r[2] + '">' + escapeHtml(r[1]) + '</td></tr>';
    }).join('') + '</table>';
  }

  function interval(value, low, high, format) {
    if (value === null) return 'suppressed';
    return format(value) + (low === null ? '' : ' (' + format(low) + ' to ' + format(high) + ')');
  }

  function cellPopup(i) {
    var f = cellFigures(i, state.segment), seg = segments[state.segment];
    var hidden = f.suppressed ? 'fewer than ' + data.min_count + ' (suppressed)' : null;
    return '<strong>' + escapeHtml(seg.name) + '</strong> in cell <code data-field="hex_id">' + f.hex_id + '</code>' + figureRows([
      ['population', String(f.population), 'population'],
      ['members', hidden || String(f.count), 'count'],
      ['penetration (95%)', interval(f.penetration, f.penetration_low, f.penetration_high, percent), 'penetration'],
      ['lift (95%)', f.lift === null && !f.suppressed ? 'no base rate' : interval(f.lift, f.lift_low, f.lift_high, function (x) { return x.toFixed(2); }), 'lift'],
      ['in a micro-market', f.in_micromarket ? 'yes' : 'no', 'in_micromarket'],
      ['Gi* z-score (density)', f.gi.toFixed(2), 'gi'],
      ['Gi* hot spot (FDR ' + data.fdr + ')', f.hot ? 'yes' : 'no', 'hot']
    ]);
  }

  function marketPopup(p) {
    var fmt2 = function (x) { return x.toFixed(2); };
    return '<strong>micro-market #' + p.rank + '</strong> of ' + escapeHtml(p.segment) + figureRows([
      ['id', p.id, 'id'],
      ['members', String(p.members), 'members'],
      ['population', String(p.population), 'population'],
      ['penetration (95%)', interval(p.penetration, p.penetration_low, p.penetration_high, percent), 'penetration'],
      ['lift (95%)', p.lift === null ? 'no base rate' : interval(p.lift, p.lift_low, p.lift_high, fmt2), 'lift'],
      ['cells', String(p.cells), 'cells'],
      ['area', p.area_km2.toFixed(2) + ' km²', 'area_km2'],
      ['members above the base rate', p.excess_members.toFixed(1), 'excess_members'],
      ['q-value (best centre)', p.q_value.toPrecision(3), 'q_value']
    ]);
  }

  function campaignPopup(p) {
    var fmt2 = function (x) { return x.toFixed(2); };
    return '<strong>campaign</strong> for ' + escapeHtml(p.segment) + figureRows([
      ['budget', p.budget + ' (' + p.unit + ')', 'budget'],
      ['members reached', p.members === null ? 'suppressed' : String(p.members), 'members'],
      ['population reached', String(p.population), 'population'],
      ['penetration (95%)', interval(p.penetration, p.penetration_low, p.penetration_high, percent), 'penetration'],
      ['lift (95%)', p.lift === null ? 'suppressed' : interval(p.lift, p.lift_low, p.lift_high, fmt2), 'lift'],
      ['cells', String(p.cells), 'cells']
    ]);
  }

  cellLayer.on('click', function (e) {
    L.popup({ maxWidth: 360 }).setLatLng(e.latlng).setContent(cellPopup(e.layer.cellIndex)).openOn(map);
  });

  function drawOverlays() {
    var name = segments[state.segment].name;
    marketLayer.clearLayers();
    campaignLayer.clearLayers();
    data.micromarkets.features.forEach(function (feature) {
      if (feature.properties.segment !== name) return;
      var shape = L.geoJSON(feature, { style: { color: '#000', weight: 2.5, fill: false }, renderer: outlines });
      shape.bindPopup(marketPopup(feature.properties));
      var p = feature.properties;
      var label = L.marker([p.centroid_lat, p.centroid_lon], {
        icon: L.divIcon({ className: 'mm-rank', html: String(p.rank), iconSize: null })
      });
      label.bindPopup(marketPopup(p));
      marketLayer.addLayer(L.featureGroup([shape, label]));
    });
    if (data.campaign) {
      data.campaign.features.forEach(function (feature) {
        if (feature.properties.segment !== name) return;
        var shape = L.geoJSON(feature, { style: { color: '#6a3d9a', weight: 3, dashArray: '6 4', fill: false }, renderer: outlines });
        shape.bindPopup(campaignPopup(feature.properties));
        campaignLayer.addLayer(shape);
      });
    }
  }

  function recolour() {
    var values = new Array(polygons.length);
    for (var i = 0; i < polygons.length; i++) values[i] = measureOf(i);
    if (state.measure === 'lift') {
      state.breaks = LIFT_BREAKS;
      state.colours = LIFT_COLOURS;
    } else {
      state.breaks = quantileBreaks(values);
      state.colours = SEQUENTIAL.slice(SEQUENTIAL.length - state.breaks.length - 1);
    }
    var market = segments[state.segment].market;
    for (var j = 0; j < polygons.length; j++) {
      polygons[j].setStyle({
        fillColor: colourOf(values[j]),
        color: market[j] ? '#000' : '#666',
        weight: market[j] ? 1.2 : 0.3
      });
    }
    drawOverlays();
    drawLegend();
    var hash = '#segment=' + encodeURIComponent(segments[state.segment].name) + '&measure=' + state.measure;
    if (location.hash !== hash && window.history.replaceState) window.history.replaceState(null, '', hash);
  }

  // Controls: segment, measure and layers.
  var panel = L.control({ position: 'topright' });
  panel.onAdd = function () {
    var div = L.DomUtil.create('div', 'mm-panel');
    var scope = data.scope;
    var where = scope.kind === 'all' ? 'all consumers' : scope.kind + ' ' + scope.name;
    div.innerHTML = '<h2>' + escapeHtml(where) + '</h2>' +
      '<label>segment <select id="mm-segment">' + segments.map(function (s, i) {
        return '<option value="' + i + '">' + escapeHtml(s.name) + '</option>';
      }).join('') + '</select></label>' +
      '<label>colour by <select id="mm-measure"><option value="lift">lift</option>' +
      '<option value="penetration">penetration</option><option value="count">count</option></select></label>' +
      '<label><input type="checkbox" id="mm-show-cells" checked> cells</label>' +
      '<label><input type="checkbox" id="mm-show-markets" checked> micro-markets</label>' +
      (data.campaign ? '<label><input type="checkbox" id="mm-show-campaign" checked> campaign</label>' : '') +
      '<label><input type="checkbox" id="mm-show-boundary" checked> boundary</label>' +
      '<div id="mm-summary"></div>';
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  panel.addTo(map);

  var legend = L.control({ position: 'bottomright' });
  legend.onAdd = function () { return L.DomUtil.create('div', 'mm-panel mm-legend'); };
  legend.addTo(map);

  function drawLegend() {
    var label = function (x) {
      return state.measure === 'penetration' ? percent(x) : state.measure === 'lift' ? x.toFixed(2) : String(x);
    };
    var rows = state.colours.map(function (colour, c) {
      var low = c === 0 ? null : state.breaks[c - 1], high = c < state.breaks.length ? state.breaks[c] : null;
      var text = low === null ? (high === null ? 'all' : 'below ' + label(high)) : high === null ? label(low) + ' and above' : label(low) + ' to ' + label(high);
      return '<div><span class="swatch" style="background:' + colour + '"></span>' + text + '</div>';
    });
    rows.push('<div><span class="swatch" style="background:' + NO_DATA + '"></span>suppressed (below ' + data.min_count + ') or no base rate</div>');
    rows.push('<div><span class="line"></span>micro-market (1 = strongest of this segment): where this segment\'s share is significantly at least ' + data.min_lift + '× the base rate</div>');
    if (data.campaign) rows.push('<div><span class="line campaign"></span>campaign</div>');
    legend.getContainer().innerHTML = '<h2>' + escapeHtml(state.measure) + ' of ' + escapeHtml(segments[state.segment].name) + '</h2>' + rows.join('');
    var seg = segments[state.segment];
    document.getElementById('mm-summary').innerHTML = figureRows([
      ['population', data.scope.population === null ? 'suppressed' : String(data.scope.population), 'scope_population'],
      ['members', seg.members === null ? 'suppressed' : String(seg.members), 'scope_members'],
      ['base rate', seg.baseRate && seg.members !== null ? percent(seg.baseRate) : 'n/a', 'base_rate'],
      ['cells shown', polygons.length + ' of ' + data.scope.cells + ' with consumers (the others hold fewer than ' + data.min_count + ' people)', 'cells_shown']
    ]);
  }

  function toggle(id, layer) {
    var box = document.getElementById(id);
    if (!box) return;
    box.addEventListener('change', function () {
      if (box.checked) layer.addTo(map); else map.removeLayer(layer);
    });
  }

  var segmentSelect = document.getElementById('mm-segment');
  var measureSelect = document.getElementById('mm-measure');
  segmentSelect.addEventListener('change', function () { state.segment = Number(segmentSelect.value); recolour(); });
  measureSelect.addEventListener('change', function () { state.measure = measureSelect.value; recolour(); });
  toggle('mm-show-cells', cellLayer);
  toggle('mm-show-markets', marketLayer);
  toggle('mm-show-campaign', campaignLayer);
  toggle('mm-show-boundary', boundary);

  // The URL fragment chooses the first view: #segment=<name>&measure=<lift|penetration|count>.
  location.hash.replace(/^#/, '').split('&').forEach(function (part) {
    var kv = part.split('=');
    var value = decodeURIComponent(kv[1] || '');
    if (kv[0] === 'segment') {
      segments.forEach(function (s, i) { if (s.name === value) state.segment = i; });
    } else if (kv[0] === 'measure' && ['lift', 'penetration', 'count'].indexOf(value) >= 0) {
      state.measure = value;
    }
  });
  segmentSelect.value = String(state.segment);
  measureSelect.value = state.measure;

  cellLayer.addTo(map);
  campaignLayer.addTo(map);
  marketLayer.addTo(map);
  boundary.addTo(map);
  var bounds = boundary.getBounds();
  if (cellLayer.getLayers().length) bounds.extend(cellLayer.getBounds());
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] }); else map.setView([0, 0], 2);
  recolour();

  // For tests and scripting: what is drawn, and the figures behind it.
  window.micromarket = {
    map: map,
    data: data,
    segments: segments.map(function (s) { return s.name; }),
    drawnCells: function () { return cellLayer.getLayers().length; },
    drawnMicromarkets: function () { return marketLayer.getLayers().length; },
    drawnCampaigns: function () { return campaignLayer.getLayers().length; },
    cellColours: function () { return polygons.map(function (p) { return p.options.fillColor; }); },
    cellFigures: function (i) { return cellFigures(i, state.segment); },
    cellCentre: function (i) { return [centre[2 * i] / 1e6, centre[2 * i + 1] / 1e6]; },
    state: state
  };
  document.body.setAttribute('data-ready', 'true');
})();
