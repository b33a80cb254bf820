// The index page: one row per scope and segment, sortable and filterable, rebuilt from the
// embedded data (no network, no library).
(function () {
  'use strict';
  // The data holds each scope once with its figures per segment as arrays (keys in `fields`);
  // one object per scope and segment is rebuilt here.
  var data = JSON.parse(document.getElementById('mm-data').textContent);
  var rows = [];
  data.scopes.forEach(function (scope) {
    scope.figures.forEach(function (figures, s) {
      var segment = data.segments[s];
      var row = {
        kind: scope.kind,
        scope: scope.scope,
        segment: segment,
        map: scope.folder + '/map.html#segment=' + encodeURIComponent(segment)
      };
      data.fields.forEach(function (key, i) { row[key] = figures[i]; });
      rows.push(row);
    });
  });
  var columns = Array.prototype.map.call(document.querySelectorAll('#mm-index th'), function (th) {
    return { key: th.dataset.key, numeric: th.dataset.numeric === 'true', th: th };
  });
  var state = { key: 'excess', descending: true };
  var scopeSelect = document.getElementById('mm-scope');
  var segmentSelect = document.getElementById('mm-segment');
  var withMarkets = document.getElementById('mm-with-markets');

  function options(select, values) {
    values.forEach(function (v) {
      var option = document.createElement('option');
      option.value = v;
      option.textContent = v;
      select.appendChild(option);
    });
  }
  function unique(key) {
    var seen = {};
    return rows.map(function (r) { return r[key]; }).filter(function (v) {
      if (seen[v]) return false;
      seen[v] = true;
      return true;
    });
  }
  options(scopeSelect, unique('scope'));
  options(segmentSelect, unique('segment').sort());

  function text(value, digits) {
    if (value === null || value === undefined) return '';
    return typeof value === 'number' && digits !== undefined ? value.toFixed(digits) : String(value);
  }
  function cell(r, key) {
    switch (key) {
      case 'base_rate': return r.base_rate === null ? '' : (r.base_rate * 100).toFixed(2) + '%';
      case 'excess': return text(r.excess, 1);
      case 'lift':
        return r.lift === null ? '' : r.lift.toFixed(2) + ' (' + r.lift_low.toFixed(2) + '–' + r.lift_high.toFixed(2) + ')';
      case 'campaign_lift': return text(r.campaign_lift, 2);
      default: return text(r[key]);
    }
  }
  function compare(a, b) {
    var x = a[state.key], y = b[state.key];
    // Blanks sort last whichever the direction.
    if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;
    if (y === null || y === undefined) return -1;
    var order = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
    return state.descending ? -order : order;
  }
  function draw() {
    var shown = rows.filter(function (r) {
      return (!scopeSelect.value || r.scope === scopeSelect.value) &&
        (!segmentSelect.value || r.segment === segmentSelect.value) &&
        (!withMarkets.checked || r.micromarkets > 0);
    });
    shown.sort(compare);
    var body = document.querySelector('#mm-index tbody');
    body.textContent = '';
    shown.forEach(function (r) {
      var tr = document.createElement('tr');
      columns.forEach(function (c) {
        var td = document.createElement('td');
        if (c.key === 'map') {
          var a = document.createElement('a');
          a.href = r.map;
          a.textContent = 'map';
          td.appendChild(a);
        } else {
          td.textContent = cell(r, c.key);
        }
        if (c.numeric) td.className = 'number';
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    columns.forEach(function (c) {
      c.th.setAttribute('aria-sort', c.key === state.key ? (state.descending ? 'descending' : 'ascending') : 'none');
    });
    document.getElementById('mm-count').textContent = shown.length + ' of ' + rows.length + ' rows';
  }
  columns.forEach(function (c) {
    if (c.key === 'map') return;
    c.th.addEventListener('click', function () {
      state.descending = state.key === c.key ? !state.descending : c.numeric;
      state.key = c.key;
      draw();
    });
  });
  [scopeSelect, segmentSelect, withMarkets].forEach(function (input) {
    input.addEventListener('change', draw);
  });
  draw();
  document.body.dataset.ready = 'true';
})();
