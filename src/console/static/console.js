// @ts-check
/// <reference lib="dom" />
// The treasury console page (WDR-06, KEY-08): built with createElement and textContent only, it
// starts only in a browser. Its logic (canonical JSON, messages, keys, signing, API calls) lives in
// console-core.js, which the tests run in Node. Secrets: the API key lives in this tab's
// sessionStorage only; the officer's private key is imported non-extractable and never sent.
import { ConsoleError, canonicalJson, reasonProblem, baseUnitsToDecimal, feeCapText, importSigningKey, checkIntent, createApiClient, approveWithdrawal, rejectWithdrawal, describeError, liveApprovals, VALID_MINUTES_MAX } from './console-core.js';
/** @typedef {import('./console-core.js').ApiClient} ApiClient */
/** @typedef {import('./console-core.js').AssetInfo} AssetInfo */
/** @typedef {import('./console-core.js').PendingItem} PendingItem */
/** @typedef {import('./console-core.js').SigningKey} SigningKey */

// ---------------------------------------------------------------------------------------------
// The page. Everything is built with createElement and textContent: no HTML from data, ever.

const SESSION_KEY = 'amanat.console.apiKey';

/**
 * @param {string} tag
 * @param {Record<string, string> | null} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** @param {string | undefined | null} iso */
function formatInstant(iso) {
  if (!iso) return '–';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** @param {string | undefined | null} iso @param {number} nowMs */
function formatRelative(iso, nowMs) {
  const ms = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(ms)) return '';
  const minutes = Math.round((ms - nowMs) / 60_000);
  const abs = Math.abs(minutes);
  const text = abs < 60 ? `${abs} min` : `${Math.floor(abs / 60)} h ${abs % 60} min`;
  return minutes >= 0 ? `in ${text}` : `${text} ago`;
}

/** bc1qxy…wlh0: enough to recognise in a list; the detail view shows the whole address. @param {string} text */
function shorten(text, head = 10, tail = 8) {
  return text.length <= head + tail + 1 ? text : `${text.slice(0, head)}…${text.slice(-tail)}`;
}

/** A reason or status code that may wrap after its underscores (no character is added: copying gives the code). @param {string} code */
function wrappable(code) {
  const node = document.createElement('span');
  code.split('_').forEach((part, i) => {
    if (i > 0) node.append('_', document.createElement('wbr'));
    node.append(part);
  });
  return node;
}

/** @param {string} text @param {string} kind */
function badge(text, kind) {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** @param {string | undefined | null} outcome */
function outcomeKind(outcome) {
  if (!outcome) return 'muted';
  if (/deny|block|sanction|reject|fail/i.test(outcome)) return 'bad';
  if (/approv|review|high|hold|pending|await/i.test(outcome)) return 'warn';
  return 'ok';
}

/**
 * Starts the console in `doc` (the page's elements are found by id; see index.html).
 * @param {Document} doc
 * @param {Storage} storage sessionStorage: the API key lives there, for this tab only
 */
export function startConsole(doc, storage) {
  /** @param {string} id @returns {any} */
  const $ = (id) => {
    const node = doc.getElementById(id);
    if (!node) throw new Error(`console page: #${id} is missing`);
    return node;
  };
  const els = {
    connectForm: /** @type {HTMLFormElement} */ ($('connect-form')), apiKey: /** @type {HTMLInputElement} */ ($('api-key')),
    connected: $('connected'), disconnect: /** @type {HTMLButtonElement} */ ($('disconnect')),
    keyForm: /** @type {HTMLFormElement} */ ($('key-form')), approverId: /** @type {HTMLInputElement} */ ($('approver-id')),
    keyFile: /** @type {HTMLInputElement} */ ($('key-file')), keyPicker: $('key-picker'), keyStatus: $('key-status'), forgetKey: /** @type {HTMLButtonElement} */ ($('forget-key')),
    message: $('message'), listSection: $('list-section'), table: $('pending-table'), list: $('pending-body'), count: $('pending-count'), refresh: /** @type {HTMLButtonElement} */ ($('refresh')),
    empty: $('pending-empty'), detailSection: $('detail-section'), detail: $('detail'),
  };

  /** @type {{ api: ApiClient | null, items: PendingItem[], assets: Map<string, AssetInfo> | undefined, signingKey: SigningKey | null, busy: boolean }} */
  const state = { api: null, items: [], assets: undefined, signingKey: null, busy: false };

  /** @param {string} text @param {'error' | 'ok' | 'info'} kind */
  function say(text, kind) {
    els.message.replaceChildren(h('span', { class: `message message-${kind}` }, text));
    els.message.hidden = false;
  }
  function clearMessage() {
    els.message.replaceChildren();
    els.message.hidden = true;
  }

  function renderConnection() {
    const on = state.api !== null;
    els.connectForm.hidden = on;
    els.connected.hidden = !on;
    els.listSection.hidden = !on;
    if (!on) els.detailSection.hidden = true;
  }

  function renderKeyStatus() {
    const k = state.signingKey;
    els.forgetKey.hidden = !k;
    els.keyPicker.hidden = Boolean(k);
    els.keyStatus.replaceChildren(k
      ? h('span', null, badge(k.algorithm === 'ed25519' ? 'Ed25519' : 'ECDSA P-256', 'ok'), ' key loaded, non-extractable, in this page only')
      : h('span', { class: 'muted' }, 'No key loaded: read-only (auditors need none)'));
  }

  /** @param {string} apiKey */
  async function connect(apiKey) {
    const api = createApiClient({ apiKey });
    const items = await api.pending();
    state.api = api;
    state.items = items;
    // Decimals for the amount cross-check; without them the list works and signing is refused.
    state.assets = await api.assets().catch(() => undefined);
    storage.setItem(SESSION_KEY, apiKey.trim());
    renderConnection();
    render();
  }

  function disconnect() {
    storage.removeItem(SESSION_KEY);
    state.api = null;
    state.items = [];
    els.apiKey.value = '';
    if (location.hash) history.replaceState(null, '', location.pathname);
    clearMessage();
    renderConnection();
  }

  async function refresh() {
    if (!state.api) return;
    state.items = await state.api.pending();
    render();
  }

  function selectedId() {
    const m = /^#\/withdrawals\/([0-9a-fA-F-]{36})$/.exec(location.hash);
    return m ? m[1] : undefined;
  }

  function render() {
    renderList();
    const id = selectedId();
    const item = id ? state.items.find((x) => x.withdrawal.id === id) : undefined;
    if (id && !item) say(`Withdrawal ${id} is not in the pending list: it has been decided, or its intent is not fixed yet.`, 'info');
    els.detailSection.hidden = !item;
    els.listSection.hidden = !state.api || Boolean(item);
    if (item) void renderDetail(item);
  }

  function renderList() {
    const now = Date.now();
    els.count.textContent = String(state.items.length);
    els.empty.hidden = state.items.length > 0;
    els.table.hidden = state.items.length === 0;
    els.list.replaceChildren(...state.items.map((item) => {
      const w = item.withdrawal;
      const live = liveApprovals(item, now).length;
      const open = h('a', { href: `#/withdrawals/${w.id}`, class: 'open' }, 'Review');
      return h('tr', null,
        h('td', null, h('div', null, item.client?.external_ref ?? '–'), h('div', { class: 'muted mono small nowrap', title: w.clientId }, shorten(w.clientId, 8, 4))),
        h('td', null, w.asset),
        h('td', { class: 'num mono' }, w.amount),
        h('td', { class: 'mono nowrap', title: w.destination }, shorten(w.destination, 8, 6), h('div', { class: 'muted small' }, w.destinationType)),
        h('td', null, badge(w.sourceTier, w.sourceTier === 'cold' ? 'cold' : 'muted')),
        h('td', null, badge(w.policy?.outcome ?? '–', outcomeKind(w.policy?.outcome)), h('div', { class: 'muted small' }, ...(w.policy?.reasons ?? []).map((r) => h('div', null, wrappable(r))))),
        h('td', null, wrappable(item.travelRule?.status ?? '–'), h('div', { class: 'muted small' }, item.travelRule?.tier ? `tier ${item.travelRule.tier}` : '')),
        h('td', null, item.screening ? badge(item.screening.outcome, outcomeKind(item.screening.outcome)) : h('span', { class: 'muted' }, 'none'),
          item.screening ? h('div', { class: 'muted small' }, `risk ${item.screening.riskScore ?? '?'}/${item.screening.highRiskScore ?? '?'}`) : null),
        h('td', { class: 'num' }, item.hotRatioRetailPct ? h('span', null, `${item.hotRatioRetailPct.before}%`, h('div', { class: 'muted small' }, `→ ${item.hotRatioRetailPct.after}%`)) : '–'),
        h('td', { class: 'num' }, h('strong', null, `${live} / ${w.approvalsRequired}`)),
        h('td', { class: 'nowrap' }, formatInstant(/** @type {string | undefined} */ (item.intent.expiresAt)).replace(' UTC', ''), h('div', { class: 'muted small' }, formatRelative(/** @type {string | undefined} */ (item.intent.expiresAt), now))),
        h('td', null, open));
    }));
  }

  /** @param {string} label @param {...(Node | string | null)} value */
  const row = (label, ...value) => h('div', { class: 'field' }, h('dt', null, label), h('dd', null, ...value));

  /** @param {PendingItem} item */
  async function renderDetail(item) {
    const now = Date.now();
    const w = item.withdrawal;
    const check = await checkIntent(item, state.assets ?? new Map());
    const live = liveApprovals(item, now);
    const decimals = state.assets?.get(w.asset)?.decimals;
    const outputs = Array.isArray(item.intent.outputs) ? item.intent.outputs : [];

    const summary = h('dl', { class: 'fields' },
      row('Withdrawal', h('span', { class: 'mono' }, w.id)),
      row('Client', `${item.client?.external_ref ?? '–'} `, h('span', { class: 'muted mono small' }, w.clientId),
        item.client?.classification ? h('div', { class: 'muted small' }, `${item.client.classification}${item.client.kz_resident ? ', KZ resident' : ''}`) : null),
      row('Amount', h('strong', { class: 'mono' }, `${w.amount} ${w.asset}`), h('div', { class: 'muted small' },
        `max network fee ${w.networkFeeMax ?? '–'}${w.networkFeeMax && w.networkFeeAsset ? ` ${w.networkFeeAsset}` : ''}${w.serviceFee && w.serviceFee !== '0' ? `, service fee ${w.serviceFee}` : ''}${w.usdValueCents ? `, ≈ USD ${baseUnitsToDecimal(w.usdValueCents, 2)}` : ''}`)),
      row('Destination', h('span', { class: 'mono break' }, w.destination), h('div', { class: 'muted small' }, w.destinationType)),
      row('Source', badge(w.sourceTier, w.sourceTier === 'cold' ? 'cold' : 'muted'), ` ${w.chain}`),
      row('Initiator', item.initiator ?? w.initiatorUserId ?? '–'),
      row('Policy', badge(w.policy?.outcome ?? '–', outcomeKind(w.policy?.outcome)), ` ${(w.policy?.reasons ?? []).join(', ')}`,
        h('div', { class: 'muted small' }, w.policy?.policyVersion ? `policy ${w.policy.policyVersion}` : '')),
      row('Travel Rule', item.travelRule?.status ?? '–', h('div', { class: 'muted small' },
        [item.travelRule?.tier ? `tier ${item.travelRule.tier}` : '', item.travelRule?.destinationType ?? ''].filter(Boolean).join(', '))),
      row('Screening', item.screening ? badge(item.screening.outcome, outcomeKind(item.screening.outcome)) : h('span', { class: 'muted' }, 'none'),
        item.screening ? h('div', { class: 'muted small' }, [`risk ${item.screening.riskScore ?? '?'}/${item.screening.highRiskScore ?? '?'}`,
          item.screening.classification ? `classified ${item.screening.classification}` : '',
          item.screening.vasp?.name, ...(item.screening.tags ?? []), item.screening.listVersion].filter(Boolean).join(', ')) : null,
        ...(item.screening?.cases ?? []).map((c) => h('div', { class: 'small' }, `case ${c.kind} ${c.status} `, h('span', { class: 'mono muted' }, c.id)))),
      row('Hot ratio (retail)', item.hotRatioRetailPct ? `${item.hotRatioRetailPct.before}% → ${item.hotRatioRetailPct.after}%` : '–'),
      row('Approvals', h('strong', null, `${live.length} / ${w.approvalsRequired}`),
        ...item.approvals.map((a) => h('div', { class: 'small' }, `${a.approverId} signed ${formatInstant(a.signedAt)}, `,
          Date.parse(a.expiresAt) > now ? `valid until ${formatInstant(a.expiresAt)}` : h('span', { class: 'bad' }, `expired ${formatInstant(a.expiresAt)}`)))),
      row('Intent expires', formatInstant(/** @type {string | undefined} */ (item.intent.expiresAt)), ` (${formatRelative(/** @type {string | undefined} */ (item.intent.expiresAt), now)})`),
    );

    const verdict = check.ok
      ? h('p', { class: 'check check-ok' }, '✓ The console recomputed this hash from the intent below, and the intent pays the destination and amount shown.')
      : h('div', { class: 'check check-bad' }, h('strong', null, '✗ Do not sign: the intent does not match. '), ...check.problems.map((p) => h('div', null, p)));
    const signed = h('section', { class: 'card' },
      h('h3', null, 'What you sign'),
      h('dl', { class: 'fields' },
        row('Intent hash', h('code', { class: 'mono break hash' }, item.intentHash)),
        row('Pays', ...outputs.map((o) => h('div', { class: 'mono break' }, `${decimals === undefined ? `${o.amount} base units` : `${baseUnitsToDecimal(o.amount, decimals)} ${w.asset}`} → ${o.address}`))),
        row('Network fee cap', h('span', { class: 'mono' }, feeCapText(item, state.assets))),
        row('From', h('span', { class: 'mono break' }, [item.intent.sourceKeyId, ...(Array.isArray(item.intent.sourceKeyIds) ? item.intent.sourceKeyIds : [])]
          .filter((v, i, all) => typeof v === 'string' && all.indexOf(v) === i).join(', ')), h('div', { class: 'muted small' }, `${w.sourceTier} wallet keys`))),
      verdict,
      h('details', { open: '' }, h('summary', null, 'Full intent'), h('pre', { class: 'mono' }, JSON.stringify(item.intent, null, 2))),
      h('details', null, h('summary', null, 'Canonical JSON (the bytes hashed)'), h('pre', { class: 'mono break' }, (() => { try { return canonicalJson(item.intent); } catch (e) { return describeError(e); } })())),
      h('details', null, h('summary', null, `Policy trace (${(item.policyTrace ?? []).length} rules)`),
        h('ul', { class: 'trace' }, ...(item.policyTrace ?? []).map((t) => h('li', { class: t.matched ? 'matched' : 'muted' }, `${t.matched ? '●' : '○'} ${t.ruleId}`)))));

    const canSign = Boolean(state.signingKey) && check.ok;
    const me = els.approverId.value.trim();
    const approvedByMe = me !== '' && live.some((a) => a.approverId === me);
    const quorum = live.length >= w.approvalsRequired;
    const hint = !state.signingKey ? 'Load your officer key (above) to approve or reject.'
      : !check.ok ? 'Signing is disabled: the intent does not match.'
        : quorum ? 'The quorum is reached: the withdrawal goes to signing. Until it is signed, a rejection still stops it.'
          : approvedByMe ? `${me} has approved this intent; the next approval must come from another officer. A rejection is still possible.` : '';
    const minutes = /** @type {HTMLInputElement} */ (h('input', { id: 'valid-minutes', type: 'number', min: '1', max: String(VALID_MINUTES_MAX), step: '1', value: '60' }));
    const approveButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'primary' }, 'Approve'));
    const reason = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'reject-reason', rows: '2', maxlength: '500', placeholder: 'Reason (required; kept for treasury and auditors, never shown to the client)' }));
    const rejectButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'danger' }, 'Reject'));
    approveButton.disabled = !canSign || approvedByMe || quorum;
    rejectButton.disabled = !canSign;
    reason.disabled = !canSign;
    minutes.disabled = !canSign;

    approveButton.addEventListener('click', () => act('approve', item.withdrawal.id, minutes, reason));
    rejectButton.addEventListener('click', () => act('reject', item.withdrawal.id, minutes, reason));

    const actions = h('section', { class: 'card actions' },
      h('h3', null, 'Decision'),
      hint ? h('p', { class: 'muted' }, hint) : null,
      h('div', { class: 'action-row' }, h('label', { for: 'valid-minutes' }, 'Signature valid for (minutes)'), minutes, approveButton),
      h('div', { class: 'action-row' }, reason, rejectButton));

    els.detail.replaceChildren(
      h('div', { class: 'detail-head' }, h('a', { href: '#/', class: 'back' }, '← Pending approvals'), h('h2', null, `${w.amount} ${w.asset} to ${shorten(w.destination, 14, 10)}`)),
      h('div', { class: 'detail-grid' }, h('section', { class: 'card' }, h('h3', null, 'Withdrawal'), summary), h('div', null, signed, actions)));
  }

  /**
   * @param {'approve' | 'reject'} what @param {string} id
   * @param {HTMLInputElement} minutes @param {HTMLTextAreaElement} reasonInput
   */
  async function act(what, id, minutes, reasonInput) {
    if (state.busy || !state.api || !state.signingKey) return;
    const approverId = els.approverId.value.trim();
    const reason = reasonInput.value;
    try {
      if (!approverId) throw new ConsoleError('APPROVER_ID_INVALID', 'enter your approver id (as registered in the signer policy)');
      if (what === 'reject') {
        const problem = reasonProblem(reason);
        if (problem) throw new ConsoleError('REASON_INVALID', problem);
      }
      state.busy = true;
      // Sign what the API says now, not what the page loaded a while ago.
      state.items = await state.api.pending();
      const item = state.items.find((x) => x.withdrawal.id === id);
      if (!item) throw new ConsoleError('NOT_PENDING', `withdrawal ${id} is not waiting for approvals any more`);
      const w = item.withdrawal;
      const question = what === 'approve'
        ? `Approve ${w.amount} ${w.asset} to ${w.destination} as ${approverId}?\n\nYou sign intent ${item.intentHash}.`
        : `Reject (veto) ${w.amount} ${w.asset} to ${w.destination} as ${approverId}? One rejection ends the withdrawal.`;
      if (!window.confirm(question)) return;
      const common = { api: state.api, signingKey: state.signingKey, approverId, item, validMinutes: Number(minutes.value), assets: state.assets ?? new Map() };
      if (what === 'approve') {
        const result = await approveWithdrawal(common);
        const quorumReached = result.approvals >= result.required;
        say(`Approved by ${approverId}: ${result.approvals} of ${result.required} approvals on ${id}${quorumReached ? '; the quorum is reached and it goes to signing' : ''}.`, 'ok');
        // The worker picks it up within a second or two; show the list as it is then.
        if (quorumReached) {
          window.setTimeout(() => {
            if (selectedId() === id) history.replaceState(null, '', '#/');
            refresh().catch((error) => say(describeError(error), 'error'));
          }, 3000);
        }
      } else {
        const result = await rejectWithdrawal({ ...common, reason });
        say(`Rejected by ${approverId}: ${id} is ${result.state} (${result.failure?.code ?? '–'}); its hold is released.`, 'ok');
        history.replaceState(null, '', '#/');
      }
      state.items = await state.api.pending();
      render();
    } catch (error) {
      say(describeError(error), 'error');
    } finally {
      state.busy = false;
    }
  }

  els.connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearMessage();
    connect(els.apiKey.value).catch((error) => {
      storage.removeItem(SESSION_KEY);
      say(describeError(error), 'error');
    });
  });
  els.disconnect.addEventListener('click', disconnect);
  els.refresh.addEventListener('click', () => {
    clearMessage();
    refresh().catch((error) => say(describeError(error), 'error'));
  });
  els.keyForm.addEventListener('submit', (event) => event.preventDefault());
  els.approverId.addEventListener('change', () => { clearMessage(); if (state.api) render(); });
  els.keyFile.addEventListener('change', () => {
    const file = els.keyFile.files?.[0];
    if (!file) return;
    // The dev officers' files are named after their approver id (dev-officer-1.pem).
    if (!els.approverId.value.trim()) els.approverId.value = file.name.replace(/\.(pem|p8|key)$/i, '');
    file.text().then(importSigningKey).then((signingKey) => {
      state.signingKey = signingKey;
      clearMessage();
      renderKeyStatus();
      render();
    }, (error) => {
      state.signingKey = null;
      renderKeyStatus();
      say(describeError(error), 'error');
    }).finally(() => { els.keyFile.value = ''; });
  });
  els.forgetKey.addEventListener('click', () => {
    state.signingKey = null;
    renderKeyStatus();
    if (state.api) render();
  });
  window.addEventListener('hashchange', () => { if (state.api) { clearMessage(); render(); } });

  renderKeyStatus();
  renderConnection();
  const saved = storage.getItem(SESSION_KEY);
  if (saved) {
    connect(saved).catch((error) => {
      storage.removeItem(SESSION_KEY);
      say(describeError(error), 'error');
    });
  }
}

if (typeof document !== 'undefined' && document.getElementById('amanat-console')) startConsole(document, window.sessionStorage);
