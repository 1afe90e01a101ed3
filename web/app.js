// app.js: kt's chat UI. Conversations and settings live in localStorage; answers stream
// from the OpenAI-compatible API of the same origin (POST /v1/chat/completions, SSE).
//
// Text from the user or the model reaches the page only through textContent or through
// ktMarkdown.render(), which escapes it (see markdown.js).
(function () {
  'use strict';

  const KEYS = { convs: 'kt.conversations', current: 'kt.current', settings: 'kt.settings' };
  const DEFAULT_SETTINGS = { system: '', temperature: '0.7', top_p: '0.95', max_tokens: '', api_key: '' };

  const $ = (id) => document.getElementById(id);
  const ui = {
    sidebar: $('sidebar'), backdrop: $('backdrop'), list: $('conversations'), newChat: $('new-chat'),
    menu: $('menu'), title: $('title'), model: $('model'), settingsBtn: $('settings-btn'),
    banner: $('banner'), messages: $('messages'), composer: $('composer'), prompt: $('prompt'),
    send: $('send'), stop: $('stop'), settings: $('settings'), settingsForm: $('settings-form'),
    settingsCancel: $('settings-cancel'),
    set: {
      system: $('set-system'), temperature: $('set-temperature'), top_p: $('set-top-p'),
      max_tokens: $('set-max-tokens'), api_key: $('set-api-key'),
    },
  };

  // ---- storage --------------------------------------------------------------------------

  function load(key, fallback) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback; // unreadable or disabled storage: start fresh
    }
  }

  function store(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      showBanner('Could not save to localStorage: ' + e.message);
    }
  }

  // Conversation: {id, title, updated, messages: [{role, content, stats?, error?, stopped?}]}
  const state = {
    convs: load(KEYS.convs, []),
    currentId: load(KEYS.current, null),
    settings: Object.assign({}, DEFAULT_SETTINGS, load(KEYS.settings, {})),
    model: null,
    stream: null, // the answer being streamed: {conv, msg, controller, el}
  };
  if (!Array.isArray(state.convs)) state.convs = [];
  // An answer still marked pending was cut off by a reload while streaming.
  for (const c of state.convs) {
    for (const m of c.messages || []) {
      if (m.pending) {
        delete m.pending;
        m.stopped = true;
        m.stats = m.stats || 'interrupted';
      }
    }
  }

  const saveConvs = () => store(KEYS.convs, state.convs);
  const saveCurrent = () => store(KEYS.current, state.currentId);
  const currentConv = () => state.convs.find((c) => c.id === state.currentId) || null;

  // ---- small helpers --------------------------------------------------------------------

  function showBanner(text) {
    ui.banner.textContent = text;
    ui.banner.hidden = !text;
  }

  function authHeaders() {
    const h = { 'Content-Type': 'application/json' };
    const key = state.settings.api_key.trim();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  // A settings field as a number, or undefined when empty/invalid (JSON.stringify drops it,
  // so the server's default applies).
  function numberSetting(name) {
    const s = String(state.settings[name]).trim();
    const n = Number(s);
    return s !== '' && Number.isFinite(n) ? n : undefined;
  }

  // The message of an HTTP error answer: {"error":{"message":...}} or the body as text.
  async function errorText(resp) {
    const body = await resp.text().catch(() => '');
    let msg = body.trim().slice(0, 500);
    try {
      const j = JSON.parse(body);
      if (j && j.error) msg = typeof j.error === 'string' ? j.error : j.error.message || msg;
    } catch (e) { /* not JSON: keep the text */ }
    return `HTTP ${resp.status}${msg ? ': ' + msg : ' ' + resp.statusText}`;
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  function titleFrom(text) {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 40 ? t.slice(0, 40) + '…' : t || 'New chat';
  }

  // ---- rendering ------------------------------------------------------------------------

  function renderSidebar() {
    ui.list.textContent = '';
    const sorted = state.convs.slice().sort((a, b) => (b.updated || 0) - (a.updated || 0));
    for (const c of sorted) {
      const li = document.createElement('li');
      li.className = 'conv' + (c.id === state.currentId ? ' active' : '');
      li.dataset.id = c.id;
      const title = document.createElement('span');
      title.className = 'conv-title';
      title.textContent = c.title || 'Untitled';
      title.title = c.title || '';
      const rename = document.createElement('button');
      rename.type = 'button';
      rename.className = 'rename';
      rename.title = 'Rename';
      rename.textContent = '✎';
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete';
      del.title = 'Delete';
      del.textContent = '×';
      li.append(title, rename, del);
      ui.list.append(li);
    }
  }

  function messageEl(msg, isLast) {
    const div = document.createElement('div');
    div.className = 'msg ' + (msg.role === 'user' ? 'user' : 'assistant');
    const body = document.createElement('div');
    body.className = 'body';
    div.append(body);
    if (msg.role === 'user') {
      body.textContent = msg.content;
      return div;
    }
    body.innerHTML = window.ktMarkdown.render(msg.content);
    const streaming = state.stream && state.stream.msg === msg;
    if (streaming) {
      div.classList.add('streaming');
      state.stream.el = div;
      return div;
    }
    div.dataset.done = '1';
    if (msg.error) {
      const err = document.createElement('div');
      err.className = 'error';
      err.textContent = msg.error;
      div.append(err);
    }
    const foot = document.createElement('div');
    foot.className = 'foot';
    if (msg.stats) {
      const stats = document.createElement('span');
      stats.className = 'stats';
      stats.textContent = msg.stats;
      foot.append(stats);
    }
    if (isLast && !state.stream) {
      const regen = document.createElement('button');
      regen.type = 'button';
      regen.className = 'regenerate';
      regen.textContent = '↻ Regenerate';
      foot.append(regen);
    }
    if (foot.childNodes.length) div.append(foot);
    return div;
  }

  function renderMessages() {
    const conv = currentConv();
    ui.messages.textContent = '';
    if (!conv || !conv.messages.length) {
      const empty = document.createElement('div');
      empty.className = 'empty';
      empty.textContent = 'Ask anything to start a conversation.';
      ui.messages.append(empty);
      return;
    }
    conv.messages.forEach((m, i) => {
      ui.messages.append(messageEl(m, i === conv.messages.length - 1));
    });
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function renderAll() {
    const conv = currentConv();
    ui.title.textContent = conv ? conv.title : 'New chat';
    document.title = (conv ? conv.title + ' · ' : '') + 'kt chat';
    renderSidebar();
    renderMessages();
  }

  // Re-renders the streaming answer, at most once per frame; keeps the view pinned to the
  // bottom unless the user has scrolled up to read.
  let frameQueued = false;
  function queueStreamRender() {
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(() => {
      frameQueued = false;
      const s = state.stream;
      if (!s || !s.el || !s.el.isConnected) return;
      const box = ui.messages;
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
      s.el.querySelector('.body').innerHTML = window.ktMarkdown.render(s.msg.content);
      if (atBottom) box.scrollTop = box.scrollHeight;
    });
  }

  function setStreaming(on) {
    ui.send.hidden = on;
    ui.stop.hidden = !on;
  }

  // ---- the API --------------------------------------------------------------------------

  async function loadModel() {
    try {
      const resp = await fetch('/v1/models', { headers: authHeaders() });
      if (!resp.ok) {
        const hint = resp.status === 401 ? ' (set the API key in Settings)' : '';
        throw new Error((await errorText(resp)) + hint);
      }
      const j = await resp.json();
      state.model = (j.data && j.data[0] && j.data[0].id) || null;
      ui.model.textContent = state.model || 'no model';
      ui.model.title = state.model || '';
      showBanner('');
    } catch (e) {
      state.model = null;
      ui.model.textContent = 'offline';
      ui.model.title = e.message;
      showBanner('Could not load the model list: ' + e.message);
    }
  }

  // Reads an SSE body, calling onData(json) for every `data:` event until `data: [DONE]`.
  // Events end with a blank line; a read can end anywhere, so the unfinished tail is kept.
  async function readEvents(resp, onData) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const events = buf.split(/\r\n\r\n|\n\n|\r\r/);
      buf = done ? '' : events.pop();
      for (const ev of events) {
        const data = ev.split(/\r\n|\n|\r/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue; // comments (": keep-alive") and empty events
        if (data.trim() === '[DONE]') return;
        let obj;
        try {
          obj = JSON.parse(data);
        } catch (e) {
          throw new Error('Unreadable stream event: ' + data.slice(0, 200));
        }
        onData(obj);
      }
      if (done) return;
    }
  }

  // Streams an answer to the conversation's messages into a new assistant message.
  async function complete(conv) {
    const messages = [];
    const system = state.settings.system.trim();
    if (system) messages.push({ role: 'system', content: system });
    for (const m of conv.messages) {
      if (m.role === 'assistant' && !m.content) continue; // failed answers
      messages.push({ role: m.role, content: m.content });
    }

    const msg = { role: 'assistant', content: '', pending: true };
    conv.messages.push(msg);
    conv.updated = Date.now();
    const controller = new AbortController();
    state.stream = { conv, msg, controller, el: null };
    saveConvs();
    renderAll();
    setStreaming(true);

    const t = { start: performance.now(), first: 0, end: 0, chunks: 0 };
    let timings = null;
    let usage = null;
    let finish = null;
    try {
      const resp = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders(),
        signal: controller.signal,
        body: JSON.stringify({
          model: state.model || 'default',
          messages,
          stream: true,
          stream_options: { include_usage: true },
          temperature: numberSetting('temperature'),
          top_p: numberSetting('top_p'),
          max_tokens: numberSetting('max_tokens'),
        }),
      });
      if (!resp.ok) throw new Error(await errorText(resp));
      await readEvents(resp, (chunk) => {
        if (chunk.error) {
          const e = chunk.error;
          throw new Error(typeof e === 'string' ? e : e.message || JSON.stringify(e));
        }
        const choice = chunk.choices && chunk.choices[0];
        const text = choice && choice.delta && choice.delta.content;
        if (typeof text === 'string' && text) {
          if (!t.chunks) t.first = performance.now();
          t.chunks++;
          msg.content += text;
          queueStreamRender();
        }
        if (choice && choice.finish_reason) finish = choice.finish_reason;
        if (chunk.timings) timings = chunk.timings;
        if (chunk.usage) usage = chunk.usage;
      });
    } catch (e) {
      if (e.name === 'AbortError') msg.stopped = true;
      else msg.error = e.message || String(e);
    } finally {
      controller.abort(); // closes the connection if we left the stream early (an error)
      t.end = performance.now();
      delete msg.pending;
      msg.stats = formatStats(t, timings, usage, finish, msg.stopped);
      state.stream = null;
      conv.updated = Date.now();
      setStreaming(false);
      saveConvs();
      renderAll();
    }
  }

  // "42.1 tok/s · 128 tokens · prompt 12 tokens (350 tok/s)": the server's timings when it
  // sent them, else measured here from chunk arrival times (one chunk ~ one token).
  function formatStats(t, timings, usage, finish, stopped) {
    const parts = [];
    let tps = timings && timings.predicted_per_second;
    if (!(tps > 0) && t.chunks) {
      const secs = t.chunks > 1 ? (t.end - t.first) / 1000 : (t.end - t.start) / 1000;
      tps = secs > 0 ? Math.max(t.chunks - 1, 1) / secs : 0;
    }
    if (tps > 0) parts.push(tps.toFixed(1) + ' tok/s');
    const n = (usage && usage.completion_tokens) ?? (timings && timings.predicted_n) ?? t.chunks;
    if (n) parts.push(n + (n === 1 ? ' token' : ' tokens'));
    const pn = (usage && usage.prompt_tokens) ?? (timings && timings.prompt_n);
    if (pn != null) {
      let p = 'prompt ' + pn + ' tokens';
      if (timings && timings.prompt_per_second > 0) p += ` (${timings.prompt_per_second.toFixed(0)} tok/s)`;
      parts.push(p);
    }
    if (stopped) parts.push('stopped');
    else if (finish === 'length') parts.push('hit max tokens');
    return parts.join(' · ');
  }

  // ---- actions --------------------------------------------------------------------------

  function send() {
    const text = ui.prompt.value.trim();
    if (!text || state.stream) return;
    let conv = currentConv();
    if (!conv) {
      conv = { id: newId(), title: titleFrom(text), updated: Date.now(), messages: [] };
      state.convs.push(conv);
      state.currentId = conv.id;
      saveCurrent();
    }
    conv.messages.push({ role: 'user', content: text });
    ui.prompt.value = '';
    autosize();
    complete(conv);
  }

  // Drops the last answer and asks again.
  function regenerate() {
    const conv = currentConv();
    if (!conv || state.stream) return;
    while (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant') {
      conv.messages.pop();
    }
    if (conv.messages.length) complete(conv);
  }

  function stop() {
    if (state.stream) state.stream.controller.abort();
  }

  function selectConv(id) {
    state.currentId = id;
    saveCurrent();
    closeSidebar();
    renderAll();
  }

  function deleteConv(id) {
    const conv = state.convs.find((c) => c.id === id);
    if (!conv || !confirm(`Delete "${conv.title}"?`)) return;
    if (state.stream && state.stream.conv === conv) stop();
    state.convs = state.convs.filter((c) => c !== conv);
    if (state.currentId === id) {
      state.currentId = null;
      saveCurrent();
    }
    saveConvs();
    renderAll();
  }

  // Swaps the title for a text field: Enter or leaving it saves, Escape cancels.
  function startRename(li) {
    const conv = state.convs.find((c) => c.id === li.dataset.id);
    const span = li.querySelector('.conv-title');
    if (!conv || !span) return;
    const input = document.createElement('input');
    input.className = 'conv-rename';
    input.value = conv.title;
    let finished = false;
    const finish = (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title) {
        conv.title = title;
        saveConvs();
      }
      renderAll();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') finish(true);
      if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true));
    span.replaceWith(input);
    input.focus();
    input.select();
  }

  function openSidebar() {
    document.body.classList.add('sidebar-open');
    ui.backdrop.hidden = false;
  }

  function closeSidebar() {
    document.body.classList.remove('sidebar-open');
    ui.backdrop.hidden = true;
  }

  // Grows the prompt box with its text up to 240px; only then does it scroll.
  function autosize() {
    ui.prompt.style.height = 'auto';
    const h = ui.prompt.scrollHeight + 2; // + the borders
    ui.prompt.style.height = Math.min(h, 240) + 'px';
    ui.prompt.style.overflowY = h > 240 ? 'auto' : 'hidden';
  }

  // ---- settings -------------------------------------------------------------------------

  function fillSettings() {
    for (const [name, input] of Object.entries(ui.set)) input.value = state.settings[name];
  }

  function saveSettings() {
    const oldKey = state.settings.api_key;
    for (const [name, input] of Object.entries(ui.set)) state.settings[name] = input.value;
    store(KEYS.settings, state.settings);
    if (state.settings.api_key !== oldKey) loadModel();
  }

  // ---- routing: #/chat (also "#/" or no hash) and #/settings ------------------------------

  function route() {
    const page = location.hash.replace(/^#\/?/, '').split('/')[0] || 'chat';
    const settings = page === 'settings';
    if (settings && ui.settings.hidden) fillSettings();
    ui.settings.hidden = !settings;
    if (settings) ui.set.system.focus();
  }

  const closeSettings = () => { location.hash = '#/chat'; };

  // ---- wiring ---------------------------------------------------------------------------

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape') {
      stop();
    }
  });
  ui.prompt.addEventListener('input', autosize);
  ui.stop.addEventListener('click', stop);
  ui.newChat.addEventListener('click', () => {
    selectConv(null);
    ui.prompt.focus();
  });
  ui.menu.addEventListener('click', () => {
    if (document.body.classList.contains('sidebar-open')) closeSidebar();
    else openSidebar();
  });
  ui.backdrop.addEventListener('click', closeSidebar);
  ui.list.addEventListener('click', (e) => {
    const li = e.target.closest('li.conv');
    if (!li || e.target.closest('input')) return;
    if (e.target.closest('.rename')) startRename(li);
    else if (e.target.closest('.delete')) deleteConv(li.dataset.id);
    else selectConv(li.dataset.id);
  });
  ui.messages.addEventListener('click', (e) => {
    if (e.target.closest('.regenerate')) {
      regenerate();
      return;
    }
    const copy = e.target.closest('.copy');
    if (copy) copyCode(copy);
  });
  ui.settingsBtn.addEventListener('click', () => { location.hash = '#/settings'; });
  ui.settingsCancel.addEventListener('click', closeSettings);
  ui.settingsForm.addEventListener('submit', (e) => {
    e.preventDefault();
    saveSettings();
    closeSettings();
  });
  ui.settings.addEventListener('click', (e) => {
    if (e.target === ui.settings) closeSettings(); // a click beside the panel
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !ui.settings.hidden) closeSettings();
  });
  window.addEventListener('hashchange', route);
  // Another tab changed the conversations: follow it unless we are streaming.
  window.addEventListener('storage', (e) => {
    if (e.key === KEYS.convs && !state.stream) {
      state.convs = load(KEYS.convs, []);
      renderAll();
    }
  });

  async function copyCode(button) {
    const code = button.closest('.code').querySelector('code').textContent;
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = 'Copied';
    } catch (e) {
      button.textContent = 'Copy failed'; // clipboard needs https or localhost
    }
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  }

  if (state.currentId && !currentConv()) state.currentId = null;
  renderAll();
  route();
  autosize();
  loadModel();
  ui.prompt.focus();
})();
