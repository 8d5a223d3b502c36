// Telegram sandbox web chat. Plain DOM, no innerHTML for anything the bot or a user wrote:
// text goes through text nodes, formatting is rebuilt from Telegram entities (UTF-16 offsets,
// which are exactly JavaScript string indices).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { userId: null, version: -1, transcript: null, bot: null, attachment: null, events: null, busy: false };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const details = (data.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
    const error = new Error((data.error || response.statusText) + (details ? ` (${details})` : ""));
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- formatting -------------------------------------------------------------------------------

function safeHref(url) {
  return /^(https?:|tg:|mailto:)/i.test(url || "") ? url : null;
}

function entityElement(entity, text) {
  switch (entity.type) {
    case "bold": return el("strong");
    case "italic": return el("em");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "code": return el("code");
    case "pre": return el("pre");
    case "blockquote":
    case "expandable_blockquote": return el("blockquote");
    case "spoiler": return el("span", { class: "spoiler", onclick: (e) => e.currentTarget.classList.add("shown") });
    case "text_link":
    case "url": {
      const href = safeHref(entity.type === "url" ? text : entity.url);
      return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }) : el("span");
    }
    case "bot_command": return el("span", { class: "cmd", onclick: () => sendText(text) });
    default: return el("span");
  }
}

function renderEntities(text, entities) {
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  function build(start, end, list) {
    const fragment = document.createDocumentFragment();
    let pos = start;
    let i = 0;
    while (i < list.length) {
      const entity = list[i];
      if (entity.offset < pos) { i += 1; continue; }
      const stop = Math.min(entity.offset + entity.length, end);
      fragment.append(text.slice(pos, entity.offset));
      const inner = [];
      let j = i + 1;
      while (j < list.length && list[j].offset < stop) { inner.push(list[j]); j += 1; }
      const node = entityElement(entity, text.slice(entity.offset, stop));
      node.append(build(entity.offset, stop, inner));
      fragment.append(node);
      pos = stop;
      i = j;
    }
    fragment.append(text.slice(pos, end));
    return fragment;
  }
  return build(0, text.length, sorted);
}

function formatAmount(currency, amount) {
  if (currency === "XTR") return `${amount} ★`;  // ⭐ needs an emoji font; ★ renders everywhere
  return `${(amount / 100).toFixed(2)} ${currency}`;
}

function formatSize(bytes) {
  if (!bytes && bytes !== 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// ---- rendering --------------------------------------------------------------------------------

function renderMedia(media) {
  const box = el("div", { class: "media" });
  if (media.kind === "photo") box.append(el("img", { src: media.file_url, alt: "photo", loading: "lazy" }));
  else if (media.kind === "video" || media.kind === "animation") {
    box.append(el("video", { src: media.file_url, controls: true, preload: "metadata", loop: media.kind === "animation" }));
  } else if (media.kind === "audio" || media.kind === "voice") {
    box.append(el("audio", { src: media.file_url, controls: true, preload: "metadata" }));
  } else {
    box.append(el("a", { class: "doc", href: media.file_url, download: media.file_name || "file" },
      el("span", { class: "icon" }, "⤓"),
      el("span", {}, el("div", {}, media.file_name || "file"), el("small", {}, formatSize(media.file_size)))));
  }
  return box;
}

function renderInvoice(message) {
  const invoice = message.invoice;
  const box = el("div", { class: "invoice" },
    el("div", { class: "inv-title" }, invoice.title),
    el("div", {}, invoice.description),
    el("div", { class: "inv-amount" }, formatAmount(invoice.currency, invoice.total_amount)));
  if (invoice.paid) box.append(el("div", { class: "paid", "data-testid": "invoice-paid" }, "✓ Paid"));
  else {
    box.append(el("button", {
      type: "button", "data-testid": "pay-button",
      onclick: (e) => payInvoice(message.message_id, e.currentTarget),
    }, `Pay ${formatAmount(invoice.currency, invoice.total_amount)}`));
  }
  return box;
}

function renderInlineKeyboard(message) {
  const box = el("div", { class: "kb-inline" });
  for (const row of message.keyboard.rows) {
    const line = el("div", { class: "kb-row" });
    for (const button of row) {
      const isUrl = Boolean(button.url);
      line.append(el("button", {
        type: "button", class: isUrl ? "url" : null, "data-testid": "inline-button",
        onclick: (e) => pressInline(message, button, e.currentTarget),
      }, button.text));
    }
    box.append(line);
  }
  return box;
}

function renderMessage(message) {
  if (message.successful_payment || message.refunded_payment) {
    const payment = message.successful_payment || message.refunded_payment;
    const verb = message.successful_payment ? "You paid" : "Refunded";
    return el("div", { class: "service", "data-testid": "service-message" },
      `${verb} ${formatAmount(payment.currency, payment.total_amount)}`);
  }
  const bubble = el("div", {
    class: `msg ${message.direction}${message.deleted ? " deleted" : ""}`,
    "data-testid": "message", dataset: { direction: message.direction, messageId: message.message_id },
  });
  if (message.reply_to_message_id) bubble.append(el("div", { class: "reply-to" }, `↪ reply to #${message.reply_to_message_id}`));
  if (message.forward_origin) bubble.append(el("div", { class: "reply-to" }, "Forwarded message"));
  if (message.media) bubble.append(renderMedia(message.media));
  if (message.invoice) bubble.append(renderInvoice(message));
  const body = message.text ?? message.caption;
  if (body) bubble.append(el("div", { class: "text" }, renderEntities(body, message.entities)));
  if (message.keyboard && message.keyboard.type === "inline" && !message.deleted) bubble.append(renderInlineKeyboard(message));
  const time = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const flags = [message.deleted ? "deleted" : null, message.edited ? "edited" : null, time].filter(Boolean).join(" · ");
  bubble.append(el("div", { class: "meta" }, flags));
  return bubble;
}

function renderReplyKeyboard(keyboard) {
  const box = $("reply-keyboard");
  box.replaceChildren();
  box.hidden = !keyboard;
  if (!keyboard) return;
  for (const row of keyboard.rows) {
    const line = el("div", { class: "kb-row" });
    for (const button of row) {
      line.append(el("button", {
        type: "button", "data-testid": "reply-button", onclick: () => pressReply(button.text),
      }, button.text));
    }
    box.append(line);
  }
  if (keyboard.placeholder) $("composer-input").placeholder = keyboard.placeholder;
}

function renderTranscript(transcript) {
  const list = $("messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  list.replaceChildren(...transcript.messages.map(renderMessage));
  if (!transcript.messages.length) list.append(el("div", { class: "empty" }, "Say hi to the bot, e.g. /start"));
  if (nearBottom || state.version < 0) list.scrollTop = list.scrollHeight;
  renderReplyKeyboard(transcript.reply_keyboard);
  const status = $("bot-status");
  status.textContent = transcript.blocked ? "blocked" : transcript.chat_action ? `${transcript.chat_action.replace(/_/g, " ")}…` : "bot";
  status.classList.toggle("active", Boolean(transcript.chat_action));
  renderCommands(transcript.commands || []);
}

function renderCommands(commands) {
  const menu = $("commands-menu");
  menu.replaceChildren(...commands.map((c) => el("button", {
    type: "button", onclick: () => { menu.hidden = true; sendText(`/${c.command}`); },
  }, `/${c.command}`, el("span", { class: "desc" }, c.description))));
  $("commands-button").hidden = commands.length === 0;
}

// ---- data flow --------------------------------------------------------------------------------

async function refresh() {
  if (!state.userId) return;
  const transcript = await api("GET", `/sandbox/users/${state.userId}/transcript`);
  if (transcript.version === state.version) return;
  state.transcript = transcript;
  renderTranscript(transcript);
  state.version = transcript.version;
}

let refreshQueued = false;
function scheduleRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(() => {
    refreshQueued = false;
    refresh().catch((error) => {
      // The user vanished (POST /sandbox/reset): fall back to the user list instead of failing forever.
      if (error.status === 404) loadUsers(null).catch(showError);
      else showError(error);
    });
  }, 30);
}

function listen() {
  if (state.events) state.events.close();
  if (!state.userId || !window.EventSource) return;
  state.events = new EventSource(`/sandbox/events?user_id=${state.userId}`);
  state.events.onmessage = () => scheduleRefresh();
}

async function loadUsers(selectId) {
  const { users } = await api("GET", "/sandbox/users");
  const select = $("user-select");
  select.replaceChildren(el("option", { value: "" }, users.length ? "— user —" : "no users yet"),
    ...users.map(({ user }) => el("option", { value: user.id }, `${user.first_name} (${user.id}${user.language_code ? ", " + user.language_code : ""})`)));
  const wanted = selectId === undefined ? localStorage.getItem("sandbox.user") : selectId;
  if (wanted && users.some(({ user }) => String(user.id) === String(wanted))) select.value = String(wanted);
  if (!users.length) $("new-user-form").hidden = false;
  await selectUser(select.value || null);
}

async function selectUser(userId) {
  state.userId = userId ? Number(userId) : null;
  state.version = -1;
  if (state.userId) localStorage.setItem("sandbox.user", String(state.userId));
  $("messages").replaceChildren(state.userId ? "" : el("div", { class: "empty" }, "Create or pick a user to start chatting with the bot."));
  if (!state.userId) renderReplyKeyboard(null);
  listen();
  await refresh();
}

function showToast(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, 3500);
}

function showAlert(text) {
  $("modal-text").textContent = text;
  $("modal").hidden = false;
}

function showError(error) { showToast(`⚠ ${error.message || error}`); }

function requireUser() {
  if (state.userId) return true;
  $("new-user-form").hidden = false;
  showToast("Create or pick a user first");
  return false;
}

async function sendText(text) {
  if (!requireUser() || !text.trim()) return;
  await api("POST", `/sandbox/users/${state.userId}/messages`, { text });
  await refresh();
}

async function sendAttachment(caption) {
  const form = new FormData();
  form.append("kind", $("attachment-kind").value);
  if (caption) form.append("caption", caption);
  form.append("file", state.attachment, state.attachment.name);
  await api("POST", `/sandbox/users/${state.userId}/messages`, form);
  clearAttachment();
  await refresh();
}

async function pressInline(message, button, node) {
  if (button.url) { window.open(button.url, "_blank", "noopener"); return; }
  if (!requireUser()) return;
  node.disabled = true;
  try {
    const result = await api("POST", `/sandbox/users/${state.userId}/press`,
      { message_id: message.message_id, text: button.text, callback_data: button.callback_data, wait: 3 });
    if (result.answer && result.answer.text) (result.answer.show_alert ? showAlert : showToast)(result.answer.text);
    if (result.answer && result.answer.url) window.open(result.answer.url, "_blank", "noopener");
    if (result.kind === "pay") showPayment(result);
  } catch (error) { showError(error); } finally { node.disabled = false; }
  await refresh();
}

async function pressReply(text) {
  if (!requireUser()) return;
  await api("POST", `/sandbox/users/${state.userId}/press`, { text }).catch(showError);
  await refresh();
}

function showPayment(result) {
  if (result.status === "paid") showToast("Payment successful");
  else if (result.status === "declined") showAlert(`Payment declined: ${result.error_message || ""}`);
  else showAlert(`Payment failed: ${result.reason || result.status}`);
}

async function payInvoice(messageId, node) {
  node.disabled = true;
  node.textContent = "Paying…";
  try {
    showPayment(await api("POST", `/sandbox/users/${state.userId}/pay`, { message_id: messageId }));
  } catch (error) { showError(error); }
  await refresh();
}

function clearAttachment() {
  state.attachment = null;
  $("attachment").hidden = true;
  $("file-input").value = "";
}

function guessKind(file) {
  if (file.type === "image/gif") return "animation";
  if (file.type.startsWith("image/")) return "photo";
  if (file.type.startsWith("video/")) return "video";
  if (file.type === "audio/ogg") return "voice";
  if (file.type.startsWith("audio/")) return "audio";
  return "document";
}

// ---- wiring -----------------------------------------------------------------------------------

function wire() {
  $("new-user-toggle").addEventListener("click", () => { $("new-user-form").hidden = !$("new-user-form").hidden; });
  $("user-select").addEventListener("change", (e) => selectUser(e.target.value || null).catch(showError));
  $("new-user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("new-user-error").textContent = "";
    const body = { first_name: $("new-user-name").value.trim(), language_code: $("new-user-lang").value };
    if ($("new-user-id").value) body.id = Number($("new-user-id").value);
    if ($("new-user-username").value.trim()) body.username = $("new-user-username").value.trim();
    try {
      const { user } = await api("POST", "/sandbox/users", body);
      $("new-user-form").hidden = true;
      await loadUsers(user.id);
    } catch (error) { $("new-user-error").textContent = error.message; }
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.busy || !requireUser()) return;
    const input = $("composer-input");
    const text = input.value;
    state.busy = true;
    try {
      if (state.attachment) await sendAttachment(text.trim());
      else if (text.trim()) await sendText(text);
      input.value = "";
    } catch (error) { showError(error); } finally { state.busy = false; input.focus(); }
  });
  $("attach-button").addEventListener("click", () => requireUser() && $("file-input").click());
  $("file-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) return;
    state.attachment = file;
    $("attachment-name").textContent = `${file.name} · ${formatSize(file.size)}`;
    $("attachment-kind").value = guessKind(file);
    $("attachment").hidden = false;
  });
  $("attachment-clear").addEventListener("click", clearAttachment);
  $("commands-button").addEventListener("click", () => { $("commands-menu").hidden = !$("commands-menu").hidden; });
  $("modal-ok").addEventListener("click", () => { $("modal").hidden = true; });
  // Safety net when server-sent events are unavailable (proxies, old browsers): a slow poll.
  setInterval(() => { if (!state.events || state.events.readyState === 2) refresh().catch(() => {}); }, 2000);
}

async function main() {
  wire();
  try {
    const info = await api("GET", "/sandbox/bot");
    state.bot = info.bot;
    $("bot-name").textContent = info.bot.first_name;
    $("bot-avatar").textContent = (info.bot.first_name || "B").slice(0, 1);
    document.title = `${info.bot.first_name} · Telegram sandbox`;
    await loadUsers();
  } catch (error) { showError(error); }
}

main();
