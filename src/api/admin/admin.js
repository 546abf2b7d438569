// The admin page: every call goes to this site's JSON API; the admin token,
// when given, is sent as a Bearer token and kept for this browser tab only.
'use strict';

const state = { token: sessionStorage.getItem('georep-token') || '', after: 0, primary: false };

function headers() {
  return state.token ? { Authorization: 'Bearer ' + state.token } : {};
}

async function api(method, path) {
  const res = await fetch(path, { method, headers: headers() });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  return { status: res.status, body };
}

function say(text, error) {
  const m = document.getElementById('message');
  m.textContent = text;
  m.className = error ? 'error' : '';
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function bar(r) {
  const total = r.registry || 0;
  const pct = (n) => (total > 0 ? (100 * n) / total : 0) + '%';
  const b = el('span', { class: 'bar', title: `${r.synced} synced, ${r.verified} verified, ${r.failed} failed of ${total}` });
  const synced = el('span', { class: 'synced' }); synced.style.width = pct(r.synced);
  const verified = el('span', { class: 'verified' }); verified.style.width = pct(r.verified);
  const failed = el('span', { class: 'failed' }); failed.style.width = pct(r.failed);
  b.append(synced, verified, failed);
  return b;
}

function replicablesCell(site) {
  const cell = el('td');
  const st = site.status;
  if (site.primary || !st || !Array.isArray(st.replicables)) { cell.append('-'); return cell; }
  for (const r of st.replicables) {
    if (r.disabled) {
      cell.append(el('div', { class: 'note disabled', 'data-replicable': r.name },
                     `${r.name}: disabled here`));
      continue;
    }
    if (!r.registry) continue;
    cell.append(el('div', { class: 'replicable', 'data-replicable': r.name,
                            'data-synced': r.synced, 'data-registry': r.registry,
                            'data-verified': r.verified, 'data-failed': r.failed,
                            'data-lost': r.lost || 0 },
                   bar(r), `${r.name}: ${r.synced}/${r.registry} synced, ${r.verified} verified, ${r.failed} failed` +
                   (r.lost ? `, ${r.lost} lost in failover (not fetched)` : '')));
  }
  if (!cell.childNodes.length) cell.append('nothing to replicate yet');
  return cell;
}

function healthCell(site) {
  const cell = el('td');
  const h = site.health;
  if (!h) { cell.append(el('span', { class: 'note' }, 'see its own /api/v1/health')); return cell; }
  cell.append(el('span', { class: h.healthy ? 'ok' : 'bad' }, h.healthy ? 'OK' : 'UNHEALTHY'));
  for (const r of h.reasons || []) cell.append(el('div', { class: 'reason' }, r));
  for (const n of h.notes || []) cell.append(el('div', { class: 'note' }, n));
  return cell;
}

// What a site holds: everything, or its selective sync.
function holds(site) {
  if (site.primary || !site.selective_sync_type || site.selective_sync_type === 'none') {
    return 'everything';
  }
  const names = site.selective_sync_type === 'namespaces'
    ? site.selective_sync_namespaces : site.selective_sync_shards;
  return `${site.selective_sync_type}: ${(names || []).join(', ')}`;
}

async function loadSites() {
  const { status, body } = await api('GET', '/api/v1/sites');
  if (status !== 200) { say(`sites: HTTP ${status} ${body && body.error ? body.error : ''}`, true); return; }
  const tbody = document.querySelector('#sites tbody');
  tbody.replaceChildren();
  for (const s of body) {
    const age = s.report_age_seconds == null ? '-' : `${Math.round(s.report_age_seconds)} s ago`;
    const lag = s.status && s.status.database && s.status.database.replay_lag_seconds != null
      ? `${s.status.database.replay_lag_seconds.toFixed(1)} s` : '-';
    tbody.append(el('tr', { 'data-site': s.name },
      el('td', {}, s.name + (s.current ? ' (this site)' : '')),
      el('td', {}, s.primary ? 'primary' : 'secondary'),
      el('td', {}, s.enabled ? 'yes' : 'no'),
      healthCell(s),
      el('td', {}, s.primary ? '-' : age),
      el('td', {}, s.primary ? '-' : lag),
      el('td', { class: 'holds' }, holds(s)),
      replicablesCell(s)));
  }
}

async function loadSelf() {
  const { status, body } = await api('GET', '/api/v1/status');
  if (status !== 200) { say(`status: HTTP ${status}`, true); return; }
  state.primary = body.role === 'primary';
  document.getElementById('site-title').textContent = `${body.site} (${body.role})`;
  const select = document.getElementById('replicable');
  if (!select.options.length) {
    for (const r of body.replicables) select.append(el('option', { value: r.name }, r.name));
  }
  document.getElementById('registry-section').hidden = state.primary;
}

async function operate(name, id, action) {
  const { status, body } = await api('POST', `/api/v1/replicables/${name}/${id}/${action}`);
  if (status === 202) say(`${action} of ${name} ${id} queued`);
  else say(`${action} of ${name} ${id}: HTTP ${status} ${body && body.error ? body.error : ''}`, true);
}

async function loadRegistry(after) {
  const name = document.getElementById('replicable').value;
  const params = new URLSearchParams({ limit: '20', after: String(after) });
  for (const f of ['state', 'verification']) {
    const v = document.getElementById(f).value;
    if (v) params.set(f, v);
  }
  const { status, body } = await api('GET', `/api/v1/replicables/${name}/registry?${params}`);
  const tbody = document.querySelector('#registry tbody');
  tbody.replaceChildren();
  if (status !== 200) { say(`registry: HTTP ${status} ${body && body.error ? body.error : ''}`, true); return; }
  for (const r of body.items) {
    const resync = el('button', { class: 'resync' }, 'Resync');
    resync.onclick = () => operate(name, r.id, 'resync');
    const reverify = el('button', { class: 'reverify' }, 'Reverify');
    reverify.onclick = () => operate(name, r.id, 'reverify');
    tbody.append(el('tr', { 'data-id': r.id },
      el('td', {}, r.id), el('td', {}, r.state), el('td', {}, r.verification_state),
      el('td', {}, r.retry_count), el('td', {}, r.retry_at || '-'),
      el('td', { class: 'failure' }, r.last_sync_failure || r.verification_failure || ''),
      el('td', {}, resync, ' ', reverify)));
  }
  state.after = body.next_after;
  document.getElementById('next-page').hidden = body.next_after == null;
}

document.getElementById('token-form').onsubmit = (e) => {
  e.preventDefault();
  state.token = document.getElementById('token').value.trim();
  sessionStorage.setItem('georep-token', state.token);
  say(state.token ? 'admin token set for this tab' : 'admin token cleared');
  refresh();
};
document.getElementById('filters').onsubmit = (e) => { e.preventDefault(); loadRegistry(0); };
document.getElementById('next-page').onclick = () => loadRegistry(state.after);

async function refresh() {
  await loadSelf();
  await loadSites();
  document.body.dataset.loaded = 'true';
}
refresh();
setInterval(loadSites, 5000);
