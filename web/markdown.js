// markdown.js: a small Markdown renderer for model answers in kt's chat UI.
//
// Safety rule: every piece of input text is HTML-escaped before it goes into the output;
// the only markup in the result is the markup this file writes itself. Link targets are
// limited to http(s), mailto and relative URLs, so a model cannot produce `javascript:`
// links. The renderer is forgiving about unfinished input (an unclosed code fence renders
// as code), because it re-renders the answer on every streamed chunk.
//
// Exposes window.ktMarkdown = { render(text) -> HTML string, escapeHtml, highlight }.
(function () {
  'use strict';

  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  // ---------------------------------------------------------------------------------------
  // Syntax highlighting: one regex per language made of alternatives tried left to right
  // (comment, string, number, ...), plus a word rule whose matches are looked up in the
  // keyword set. Rule sources use only non-capturing groups, so group i is rule i.

  const C_COMMENT = String.raw`\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)`;
  const DQ_STRING = String.raw`"(?:\\.|[^"\\\n])*"?`;
  const SQ_STRING = String.raw`'(?:\\.|[^'\\\n])*'?`;
  const NUMBER = String.raw`\b(?:0[xX][\da-fA-F]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?)[a-zA-Z]*\b`;

  const LANGUAGES = {
    python: {
      rules: [
        ['comment', String.raw`#[^\n]*`],
        ['str', String.raw`[rbufRBUF]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|` +
          DQ_STRING + '|' + SQ_STRING + ')'],
        ['num', NUMBER],
        ['meta', String.raw`@[\w.]+`],
      ],
      keywords: 'and as assert async await break class continue def del elif else except False ' +
        'finally for from global if import in is lambda None nonlocal not or pass raise return ' +
        'True try while with yield self',
    },
    js: {
      rules: [
        ['comment', C_COMMENT],
        ['str', DQ_STRING + '|' + SQ_STRING + '|' + String.raw`\x60(?:\\.|[^\x60\\])*\x60?`],
        ['num', NUMBER],
      ],
      keywords: 'async await break case catch class const continue debugger default delete do ' +
        'else export extends false finally for from function if import in instanceof interface ' +
        'let new null of return static super switch this throw true try type typeof undefined ' +
        'var void while yield',
    },
    c: {
      rules: [
        ['comment', C_COMMENT],
        // A preprocessor directive at the start of a line (#include, #define, ...).
        ['meta', String.raw`(?<![^\n])[ \t]*#[ \t]*[a-z]+`],
        ['str', DQ_STRING + '|' + SQ_STRING],
        ['num', NUMBER],
      ],
      keywords: 'alignas auto bool break case catch char class const constexpr consteval ' +
        'continue co_await co_return co_yield decltype default delete do double else enum ' +
        'explicit export extern false float for friend goto if inline int long mutable ' +
        'namespace new noexcept nullptr operator override private protected public return ' +
        'short signed sizeof static static_assert static_cast struct switch template this ' +
        'throw true try typedef typename union unsigned using virtual void volatile while ' +
        'size_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t std',
    },
    bash: {
      rules: [
        // `#` starts a comment only at a word start (so `$#` and `${#x}` are not comments).
        ['comment', String.raw`(?<![^\s])#[^\n]*`],
        // Shell strings may span lines.
        ['str', String.raw`"(?:\\.|[^"\\])*"?|'[^']*'?`],
        ['var', String.raw`\$\{[^}\n]*\}?|\$\w+|\$[@#?$!*-]`],
        ['num', String.raw`\b\d+\b`],
      ],
      keywords: 'if then else elif fi for while until do done case esac in function return ' +
        'local export echo exit set unset readonly source cd sudo',
    },
    json: {
      rules: [
        ['str', DQ_STRING],
        ['num', String.raw`-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b`],
      ],
      keywords: 'true false null',
      keys: true, // strings followed by ':' are object keys
    },
  };

  const ALIASES = {
    py: 'python', python3: 'python', javascript: 'js', mjs: 'js', ts: 'js', typescript: 'js',
    jsx: 'js', tsx: 'js', 'c++': 'c', cpp: 'c', cc: 'c', cxx: 'c', h: 'c', hpp: 'c', cuda: 'c',
    cu: 'c', sh: 'bash', shell: 'bash', zsh: 'bash', console: 'bash', jsonc: 'json',
  };

  // Compile each language once: combined regex, rule classes, keyword set.
  for (const lang of Object.values(LANGUAGES)) {
    const sources = lang.rules.map(([, src]) => '(' + src + ')');
    sources.push(String.raw`([A-Za-z_$][\w$]*)`);
    lang.regex = new RegExp(sources.join('|'), 'g');
    lang.classes = lang.rules.map(([cls]) => cls).concat('word');
    lang.keywordSet = new Set(lang.keywords.split(' '));
  }

  function languageOf(name) {
    const key = String(name || '').toLowerCase();
    return LANGUAGES[ALIASES[key] || key] || null;
  }

  // Returns escaped HTML for `code`, with <span class="tok-...">; plain for unknown languages.
  function highlight(code, name) {
    const lang = languageOf(name);
    if (!lang) return escapeHtml(code);
    const re = lang.regex;
    const keyFollows = /\s*:/y;
    let out = '';
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(code); m !== null; m = re.exec(code)) {
      if (m[0] === '') { // never loop on an empty match
        re.lastIndex++;
        continue;
      }
      let cls = lang.classes[m.findIndex((g, i) => i > 0 && g !== undefined) - 1];
      if (cls === 'word') {
        cls = lang.keywordSet.has(m[0]) ? 'kw' : null;
      } else if (cls === 'str' && lang.keys) {
        keyFollows.lastIndex = re.lastIndex;
        if (keyFollows.test(code)) cls = 'key';
      }
      out += escapeHtml(code.slice(last, m.index));
      out += cls ? `<span class="tok-${cls}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
      last = re.lastIndex;
    }
    return out + escapeHtml(code.slice(last));
  }

  // ---------------------------------------------------------------------------------------
  // Inline markup: code spans, links, bold, italic, strikethrough.
  //
  // Pieces that must not be touched again (code spans, links, backslash escapes) are swapped
  // for placeholders \u0000N\u0000 before the rest is escaped and emphasis is applied; the
  // input never contains \u0000 (render() strips it), so placeholders cannot be forged.

  const SAFE_URL = /^(?:https?:\/\/|mailto:|\/|#|\.{0,2}\/)/i;

  function inline(text) {
    const slots = [];
    const keep = (html) => '\u0000' + (slots.push(html) - 1) + '\u0000';
    let s = text;

    s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g,
      (_, ticks, code) => keep('<code>' + escapeHtml(code) + '</code>'));
    s = s.replace(/\\([\\`*_{}[\]()#+\-.!|~<>])/g, (_, c) => keep(escapeHtml(c)));
    // [text](url "title") and ![alt](url): images are shown as links, never loaded.
    // URLs may hold balanced parentheses (Wikipedia links do).
    s = s.replace(/!?\[([^\]\n]+)\]\(\s*<?((?:[^\s()<>]|\([^\s()]*\))+)>?(?:\s+"[^"\n]*")?\s*\)/g,
      (all, label, url) => {
        if (!SAFE_URL.test(url)) return keep(escapeHtml(label));
        return keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">` +
          inline(label) + '</a>');
      });
    s = s.replace(/\bhttps?:\/\/[^\s<>"'`\u0000]*[^\s<>"'`.,;:!?)\]\u0000]/g,
      (url) => keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">` +
        escapeHtml(url) + '</a>'));

    s = escapeHtml(s);
    s = s.replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>');
    s = s.replace(/(?<![\w])__(?=\S)([\s\S]*?\S)__(?![\w])/g, '<strong>$1</strong>');
    s = s.replace(/\*([^\s*](?:[^*]*?[^\s*])?)\*/g, '<em>$1</em>');
    s = s.replace(/(?<![\w])_([^\s_](?:[^_]*?[^\s_])?)_(?![\w])/g, '<em>$1</em>');
    s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
    return s.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
  }

  // ---------------------------------------------------------------------------------------
  // Blocks: fenced code, headings, rules, quotes, lists, tables, paragraphs.

  const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([\w+#.-]*)/;
  const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
  const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}> ?/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])(?:\s+(.*)|$)/;
  const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$/;
  const BLANK = /^\s*$/;

  function indentOf(line) {
    return line.match(/^\s*/)[0].replace(/\t/g, '    ').length;
  }

  // Removes up to n columns of leading spaces.
  function dedent(line, n) {
    let i = 0;
    while (i < n && i < line.length && line[i] === ' ') i++;
    return line.slice(i);
  }

  function startsBlock(line, next) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
      ITEM.test(line) || isTableStart(line, next);
  }

  function isTableStart(line, next) {
    return line.includes('|') && next !== undefined && next.includes('-') && TABLE_SEP.test(next);
  }

  function splitRow(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((cell) => cell.trim());
  }

  function codeBlock(code, lang) {
    const label = lang ? `<span class="code-lang">${escapeHtml(lang)}</span>` : '<span></span>';
    return '<div class="code"><div class="code-head">' + label +
      '<button class="copy" type="button">Copy</button></div>' +
      `<pre><code class="lang-${escapeHtml(lang || 'plain')}">${highlight(code, lang)}</code></pre></div>`;
  }

  function parseFence(lines, i, m) {
    const indent = m[1].length;
    const fence = m[2];
    const closing = new RegExp('^ {0,3}' + fence[0] + '{' + fence.length + ',}\\s*$');
    const body = [];
    i++;
    while (i < lines.length && !closing.test(lines[i])) body.push(dedent(lines[i++], indent));
    if (i < lines.length) {
      i++; // the closing fence
    } else if (body.length && body[body.length - 1] === '') {
      body.pop(); // still streaming: the newline after the last line is not code yet
    }
    return { html: codeBlock(body.join('\n'), m[3]), next: i };
  }

  function parseTable(lines, i) {
    const head = splitRow(lines[i]);
    const aligns = splitRow(lines[i + 1]).map((c) =>
      c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : (c.startsWith(':') ? 'left' : ''));
    const cell = (tag, text, col) =>
      `<${tag}${aligns[col] ? ` style="text-align:${aligns[col]}"` : ''}>${inline(text)}</${tag}>`;
    let html = '<div class="table"><table><thead><tr>' +
      head.map((c, col) => cell('th', c, col)).join('') + '</tr></thead><tbody>';
    i += 2;
    while (i < lines.length && !BLANK.test(lines[i]) && lines[i].includes('|')) {
      const row = splitRow(lines[i++]);
      html += '<tr>' + head.map((_, col) => cell('td', row[col] || '', col)).join('') + '</tr>';
    }
    return { html: html + '</tbody></table></div>', next: i };
  }

  // A list whose first item is lines[i]. Lines indented deeper than the item markers belong
  // to the current item (nested lists, code, more paragraphs) and are rendered recursively.
  function parseList(lines, i) {
    const first = lines[i].match(ITEM);
    const base = indentOf(first[1]);
    const ordered = /\d/.test(first[2]);
    const items = [];
    let item = null;
    let contentIndent = 0;
    while (i < lines.length) {
      const line = lines[i];
      const m = line.match(ITEM);
      if (BLANK.test(line)) {
        // A blank line ends the list unless the list (or the item) goes on after it.
        let j = i + 1;
        while (j < lines.length && BLANK.test(lines[j])) j++;
        if (j >= lines.length) break;
        const mj = lines[j].match(ITEM);
        const sameList = mj && indentOf(mj[1]) === base && /\d/.test(mj[2]) === ordered;
        if (!sameList && indentOf(lines[j]) <= base) break;
        item.lines.push('');
        i++;
        continue;
      }
      if (m && indentOf(m[1]) <= base) {
        if (indentOf(m[1]) < base || /\d/.test(m[2]) !== ordered) break;
        item = { lines: [m[3] || ''] };
        items.push(item);
        contentIndent = base + m[2].length + 1;
        i++;
        continue;
      }
      if (indentOf(line) > base) {
        item.lines.push(dedent(line.replace(/^\t+/, (t) => '    '.repeat(t.length)), contentIndent));
        i++;
        continue;
      }
      // A lazy continuation line of the item's paragraph, unless it starts a new block.
      if (startsBlock(line, lines[i + 1])) break;
      item.lines.push(line);
      i++;
    }
    const start = ordered ? parseInt(first[2], 10) : 1;
    const tag = ordered ? 'ol' : 'ul';
    const attrs = ordered && start !== 1 ? ` start="${start}"` : '';
    const body = items.map((it) => '<li>' + renderBlocks(it.lines) + '</li>').join('');
    return { html: `<${tag}${attrs}>${body}</${tag}>`, next: i };
  }

  function renderBlocks(lines) {
    let html = '';
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (BLANK.test(line)) {
        i++;
      } else if ((m = line.match(FENCE))) {
        const r = parseFence(lines, i, m);
        html += r.html;
        i = r.next;
      } else if ((m = line.match(HEADING))) {
        const level = m[1].length;
        html += `<h${level}>${inline(m[2] || '')}</h${level}>`;
        i++;
      } else if (RULE.test(line)) {
        html += '<hr>';
        i++;
      } else if (QUOTE.test(line)) {
        const inner = [];
        while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ''));
        html += '<blockquote>' + renderBlocks(inner) + '</blockquote>';
      } else if (ITEM.test(line)) {
        const r = parseList(lines, i);
        html += r.html;
        i = r.next;
      } else if (isTableStart(line, lines[i + 1])) {
        const r = parseTable(lines, i);
        html += r.html;
        i = r.next;
      } else {
        // A paragraph: single newlines inside it are kept as line breaks (chat answers
        // use them on purpose).
        const para = [line.trim()];
        i++;
        while (i < lines.length && !BLANK.test(lines[i]) && !startsBlock(lines[i], lines[i + 1])) {
          para.push(lines[i++].trim());
        }
        html += '<p>' + para.map(inline).join('<br>') + '</p>';
      }
    }
    return html;
  }

  function render(text) {
    const lines = String(text == null ? '' : text)
      .replace(/\u0000/g, '')
      .replace(/\r\n?/g, '\n')
      .split('\n');
    return renderBlocks(lines);
  }

  window.ktMarkdown = { render, escapeHtml, highlight };
})();
