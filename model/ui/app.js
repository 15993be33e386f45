// tidekv Explorer: the page over `tidekv explore`'s JSON API. A reworked
// copy of stateright's Explorer UI (MIT License, Copyright (c) 2018 Jonathan
// Nadal and other Stateright contributors; notice at /LICENSE-stateright).
//
// Address: #/steps/0/A1/A2/...?cfg=F&offset=K&page=P
//   the path of action indices from the initial state (0); cfg: the
//   fingerprint of the configuration the link was made for; offset: how
//   many steps before the end of the path the selected state lies (the up
//   and down keys move it); page: the page of next actions shown.
'use strict';

const PAGE = 100;          // next actions per page
const MIN_SCALE = 0.7;     // the diagram shrinks to fit down to this, then scrolls
const LOADING_DELAY = 150; // ms before the loading indicator shows

const $ = (id) => document.getElementById(id);
const cache = new Map();   // "/.states/..." -> response JSON
let inflight = null;       // AbortController of the request being loaded
let current = null;        // what is shown: {hash, farthest, selected, data}
let serverConfig = null;   // {label, flags, fingerprint}

function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
}

function parseHash() {
    const [path, query] = (window.location.hash || '').replace(/^#/, '').split('?');
    const parts = path.split('/').filter((p) => p !== '');
    const params = new URLSearchParams(query || '');
    return {
        view: parts[0],
        indices: parts.slice(1),
        cfg: params.get('cfg'),
        offset: Math.max(0, parseInt(params.get('offset') || '0', 10) || 0),
        page: Math.max(0, parseInt(params.get('page') || '0', 10) || 0),
    };
}

function href(indices, opts) {
    const params = new URLSearchParams();
    const cfg = (opts && opts.cfg) || (serverConfig && serverConfig.fingerprint);
    if (cfg) params.set('cfg', cfg);
    if (opts && opts.offset) params.set('offset', opts.offset);
    if (opts && opts.page) params.set('page', opts.page);
    return `#/steps/${indices.join('/')}?${params}`;
}

async function fetchJson(url, signal) {
    if (cache.has(url)) return cache.get(url);
    const r = await fetch(url, {signal});
    let body;
    try { body = await r.json(); } catch (e) { body = {error: `the server answered ${r.status} without JSON`}; }
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    cache.set(url, body);
    return body;
}

function showProblem(text) {
    const p = $('problem');
    p.hidden = !text;
    p.replaceChildren();
    if (text) {
        p.append(`Cannot open this address: ${text}. `, el('a', {href: '#/steps/0'}, 'Go to the initial state'), '.');
    }
}

function checkFingerprint(wanted) {
    const w = $('warning');
    const ours = serverConfig && serverConfig.fingerprint;
    const mismatch = wanted && ours && wanted !== ours;
    w.hidden = !mismatch;
    w.replaceChildren();
    if (mismatch) {
        w.append(`This link was made for another configuration (fingerprint ${wanted}); this Explorer runs `,
            el('code', {}, serverConfig.flags), ` (fingerprint ${ours}). The state shown is probably not the one `
            + 'the link meant: start tidekv explore with the flags the link was printed with.');
    }
}

function setConfig(config) {
    serverConfig = config;
    $('config-label').textContent = config.label;
    $('config-flags').textContent = `tidekv explore ${config.flags}`;
    document.title = `tidekv Explorer: ${config.label}`;
}

async function show() {
    const h = parseHash();
    if (h.view !== 'steps' || h.indices.length === 0) {
        window.location.replace(href(['0'], {cfg: h.cfg}));
        return;
    }
    const farthest = h.indices;
    const selected = farthest.slice(0, Math.max(1, farthest.length - h.offset));
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    const timer = setTimeout(() => { $('loading').hidden = false; }, LOADING_DELAY);
    $('loading').textContent = `Loading the state after ${selected.length - 1} cycle(s)…`;
    try {
        const page = `offset=${h.page * PAGE}&limit=${PAGE}`;
        const data = await fetchJson(`/.states/${selected.join('/')}?${page}`, ctl.signal);
        const far = selected.length === farthest.length
            ? data : await fetchJson(`/.states/${farthest.join('/')}?offset=0&limit=0`, ctl.signal);
        if (ctl.signal.aborted) return;
        setConfig(data.config);
        showProblem(null);
        checkFingerprint(h.cfg);
        current = {h, farthest, selected, data};
        render(h, farthest, selected, data, far);
    } catch (e) {
        if (e.name === 'AbortError') return;
        showProblem(e.message);
        checkFingerprint(h.cfg);
        $('diagram').replaceChildren();
        $('state-text').textContent = '';
        $('path').replaceChildren();
        $('next').replaceChildren();
        $('next-count').textContent = '';
        $('pager-top').replaceChildren();
        $('pager-bottom').replaceChildren();
        $('state-heading').textContent = 'No state';
    } finally {
        clearTimeout(timer);
        if (inflight === ctl) {
            inflight = null;
            $('loading').hidden = true;
        }
    }
}

function render(h, farthest, selected, data, far) {
    // The path, one line per cycle.
    const path = $('path');
    path.replaceChildren();
    const lines = [{label: 'initial state', cycle: null}].concat(
        far.steps.map((s) => ({label: s.action, cycle: s.cycle})));
    lines.forEach((line, i) => {
        const a = el('a', {href: href(farthest, {cfg: h.cfg, offset: farthest.length - 1 - i}), class: 'font-code'});
        if (line.cycle !== null) a.append(el('span', {class: 'cycle'}, `cycle ${line.cycle}: `));
        a.append(line.label);
        if (i === selected.length - 1) a.classList.add('is-selected');
        path.append(el('li', {}, a));
    });
    $('state-heading').textContent = selected.length === 1
        ? 'Selected state: the initial state (cycle 0)'
        : `Selected state: after cycle ${data.cycle - 1}`;

    // The next actions, a page at a time.
    const next = data.next;
    const list = $('next');
    list.replaceChildren();
    for (const s of next.steps) {
        list.append(el('li', {}, el('a', {href: href(selected.concat([String(s.actionIndex)]), {cfg: h.cfg}), class: 'font-code'}, s.action)));
    }
    if (next.total === 0) {
        list.append(el('li', {}, next.bound ? `none: ${next.bound}` : 'none'));
    }
    const first = next.total ? next.offset + 1 : 0;
    const last = next.offset + next.steps.length;
    $('next-count').textContent = next.total > next.steps.length
        ? `(${first}–${last} of ${next.total.toLocaleString()})` : `(${next.total})`;
    for (const id of ['pager-top', 'pager-bottom']) {
        const pager = $(id);
        pager.replaceChildren();
        if (next.total <= PAGE) continue;
        const pages = Math.ceil(next.total / PAGE);
        const go = (p) => () => { window.location.hash = href(farthest, {cfg: h.cfg, offset: h.offset, page: p}).slice(1); };
        const prev = el('button', {}, '← previous');
        prev.disabled = h.page === 0;
        prev.onclick = go(h.page - 1);
        const nxt = el('button', {}, 'next →');
        nxt.disabled = h.page + 1 >= pages;
        nxt.onclick = go(h.page + 1);
        pager.append(prev, nxt, `page ${h.page + 1} of ${pages}`);
    }

    // The diagram and the text.
    $('diagram').innerHTML = data.svg || '';
    fitDiagram(true);
    showText();
}

function showText() {
    if (!current) return;
    $('state-text').textContent = $('complete-state').checked ? current.data.state : current.data.outcome;
}

// Scales the diagram to the panel (never below MIN_SCALE), scrolls it to
// the newest cycle when it is wider, and keeps the lane names at the left
// edge while it scrolls.
function fitDiagram(toEnd) {
    const box = $('diagram');
    const svg = box.querySelector('svg');
    if (!svg) return;
    const w = parseFloat(svg.getAttribute('width'));
    const hgt = parseFloat(svg.getAttribute('height'));
    const avail = box.clientWidth;
    const scale = Math.max(MIN_SCALE, Math.min(1, avail / w));
    svg.style.width = `${w * scale}px`;
    svg.style.height = `${hgt * scale}px`;
    svg.dataset.scale = scale;
    if (toEnd) box.scrollLeft = box.scrollWidth;
    pinLanes();
}

function pinLanes() {
    const box = $('diagram');
    const svg = box.querySelector('svg');
    const lanes = svg && svg.querySelector('.tidekv-lanes');
    if (!lanes) return;
    const scale = parseFloat(svg.dataset.scale || '1');
    lanes.setAttribute('transform', `translate(${box.scrollLeft / scale},0)`);
}

function verdictText(v) {
    return {
        'violated': '⚠️ violated', 'holds': '✅ holds', 'n/a': 'n/a', 'searching': '🔎 searching',
        'reached': '✅ reached', 'not reached': '⚠️ NOT reached', 'not applicable': 'not applicable',
    }[v] || v;
}

async function refreshStatus() {
    let s;
    try {
        const r = await fetch('/.status');
        s = await r.json();
    } catch (e) {
        setTimeout(refreshStatus, 2000);
        return;
    }
    setConfig(s.config);
    checkFingerprint(parseHash().cfg);
    $('unique-states').textContent = s.unique_state_count.toLocaleString();
    $('generated-states').textContent = s.state_count.toLocaleString();
    $('max-depth').textContent = s.max_depth.toLocaleString();
    $('progress').textContent = s.done ? 'Done' : 'Searching every state…';
    const list = $('properties');
    list.replaceChildren();
    for (const v of s.verdicts) {
        const cls = `verdict-${v.verdict.replace(/[^a-z]+/g, '-')}`;
        const name = v.expectation === 'always' ? `always ${v.name}` : `sometimes ${v.name}`;
        const what = v.path ? el('a', {href: href(v.path.split('/')), class: 'font-code'}, name)
            : el('span', {class: 'font-code'}, name);
        const why = v.verdict === 'not applicable' ? ' (cannot happen in this configuration)'
            : v.verdict === 'n/a' ? ' (no shard has two replicas)' : '';
        list.append(el('li', {}, el('b', {class: cls}, verdictText(v.verdict)), ' ', what, why));
    }
    if (!s.done) setTimeout(refreshStatus, 1000);
}

document.addEventListener('keydown', (ev) => {
    if (!current || ev.target.tagName === 'INPUT') return;
    const {h, farthest} = current;
    let offset = h.offset;
    if (ev.key === 'ArrowUp' || ev.key === 'k') offset = Math.min(offset + 1, farthest.length - 1);
    else if (ev.key === 'ArrowDown' || ev.key === 'j') offset = Math.max(offset - 1, 0);
    else return;
    ev.preventDefault();
    window.location.hash = href(farthest, {cfg: h.cfg, offset}).slice(1);
});
$('complete-state').addEventListener('change', showText);
$('diagram').addEventListener('scroll', pinLanes);
window.addEventListener('resize', () => fitDiagram(false));
window.addEventListener('hashchange', show);
show();
refreshStatus();
