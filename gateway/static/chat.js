// Voltmart web chat: sign in as a demo persona, then chat through the gateway.
//   POST /demo/login {"persona"} -> {"access_token", "sender", "persona", "expires_in"}
//   POST /v1/chat    {"message"} with "Authorization: Bearer <token>" and "X-Timezone"
//                    -> {"sender", "messages": [{"text", "buttons"} | {"custom"}], "fallback"}
// A "custom" message is a rich answer (cards, a comparison table, a cart): rich.js draws it.
// Close chat after a recommendation (an answer with thumbs buttons) says goodbye through the
// gateway, so the assistant can ask its post-conversation survey (actions/survey.py): the
// question stays in the panel until it is answered or skipped, then the chat closes.
// Every text from the server is rendered with textContent, never as HTML.
"use strict";

(() => {
  const PERSONA_LABELS = {
    frequent_buyer: "Frequent buyer",
    bargain_hunter: "Bargain hunter",
    tech_enthusiast: "Tech enthusiast",
    casual_browser: "Casual browser",
    new_visitor: "New visitor",
    default: "Guest",
  };
  const REQUEST_TIMEOUT_MS = 30000;
  const MAX_CHARS = 2000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    whoami: $("whoami"),
    signinForm: $("signin-form"),
    persona: $("persona"),
    signin: $("signin"),
    messages: $("messages"),
    typing: $("typing"),
    chips: Array.from(document.querySelectorAll("#chips .chip")),
    composer: $("composer"),
    input: $("message-input"),
    send: $("send"),
    close: $("close-chat"),
  };

  // session: {token, sender, persona, expiresAt}; generation invalidates stale responses
  let session = null;
  let generation = 0;
  let busy = false;
  let inflight = null;
  let signingIn = false;
  let recommended = false; // a recommendation (rated with thumbs) was shown
  let closing = false; // Close chat was pressed: close once no survey question is open

  function timeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch {
      return "";
    }
  }

  function personaLabel(persona) {
    return PERSONA_LABELS[persona] || String(persona || "Guest");
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function addBubble(kind, text) {
    const el = document.createElement("div");
    el.className = `msg ${kind}`;
    el.textContent = text;
    ui.messages.append(el);
    scrollToEnd();
    return el;
  }

  const addNotice = (text) => addBubble("notice", text);
  const addError = (text) => addBubble("notice error", text);

  function clearPane() {
    ui.messages.replaceChildren();
  }

  function setWaiting(waiting) {
    busy = waiting;
    ui.typing.hidden = !waiting;
    ui.messages.setAttribute("aria-busy", waiting ? "true" : "false");
    refreshControls();
    if (waiting) scrollToEnd();
  }

  function refreshControls() {
    const canChat = Boolean(session) && !busy;
    const hadFocus = document.activeElement === ui.input || document.activeElement === ui.send
      || document.activeElement === document.body || document.activeElement === null;
    ui.input.disabled = !canChat;
    ui.send.disabled = !canChat;
    for (const chip of ui.chips) chip.disabled = !canChat;
    ui.close.disabled = !session || busy;
    ui.input.placeholder = session ? "Ask about phones, laptops, deals…" : "Sign in to start chatting";
    if (canChat && hadFocus) ui.input.focus();
  }

  function setSignedOut(reason) {
    session = null;
    ui.whoami.textContent = "Not signed in";
    refreshControls();
    if (reason) addError(reason);
    ui.signin.focus();
  }

  // fetch with a timeout; resolves to a Response or throws (AbortError / TypeError)
  async function request(path, body, headers, controller) {
    const timer = setTimeout(() => {
      controller.timedOut = true;
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    try {
      return await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "same-origin",
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function readJson(resp) {
    try {
      return await resp.json();
    } catch {
      return null;
    }
  }

  function retryAfterSeconds(resp) {
    const raw = resp.headers.get("Retry-After");
    if (!raw) return null;
    const secs = Number(raw.trim());
    if (Number.isFinite(secs) && secs >= 0) return Math.max(1, Math.ceil(secs));
    const when = Date.parse(raw);
    if (!Number.isNaN(when)) return Math.max(1, Math.ceil((when - Date.now()) / 1000));
    return null;
  }

  function failureText(err, controller) {
    if (controller.timedOut) return "The assistant is taking too long to answer. Please try again.";
    if (err && err.name === "AbortError") return null; // superseded by a new sign-in
    return "Can't reach the assistant right now. Check your connection and try again.";
  }

  async function signIn() {
    const persona = ui.persona.value;
    const gen = ++generation;
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    session = null;
    signingIn = true;
    recommended = false;
    closing = false;
    document.body.dataset.chat = "open";
    clearPane();
    ui.whoami.textContent = `Signing in as ${personaLabel(persona)}…`;
    ui.signin.disabled = true;
    setWaiting(false);
    try {
      const resp = await request("/demo/login", { persona }, {}, controller);
      const data = await readJson(resp);
      if (gen !== generation) return;
      if (!resp.ok || !data || typeof data.access_token !== "string") {
        const detail = resp.status === 429
          ? `Too many sign-ins; try again in ${retryAfterSeconds(resp) ?? "a few"} s.`
          : "Please try again in a moment.";
        setSignedOut(`Couldn't sign in (${resp.status || "no answer"}). ${detail}`);
        return;
      }
      const expiresIn = Number(data.expires_in);
      session = {
        token: data.access_token,
        sender: String(data.sender || ""),
        persona: String(data.persona || persona),
        expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null,
      };
      const who = `${session.sender} (${personaLabel(session.persona)})`;
      ui.whoami.textContent = `Signed in as ${who}`;
      addNotice(`You are chatting as ${who}. Ask about phones, laptops, headphones, tablets, `
        + "smartwatches or smart-home gear, or tap a suggestion below.");
      refreshControls();
      ui.input.focus();
    } catch (err) {
      if (gen !== generation) return;
      const text = failureText(err, controller);
      setSignedOut(text && `Couldn't sign in. ${text}`);
    } finally {
      if (gen === generation) {
        ui.signin.disabled = false;
        signingIn = false;
        inflight = null;
      }
    }
  }

  // Quick replies under a bot message: the title is shown, the payload is sent.
  function addButtons(buttons) {
    const group = document.createElement("div");
    group.className = "replies";
    group.setAttribute("role", "group");
    for (const b of buttons) {
      if (!b || typeof b.title !== "string" || typeof b.payload !== "string") continue;
      const el = document.createElement("button");
      el.type = "button";
      el.className = "chip reply";
      el.textContent = b.title;
      el.addEventListener("click", () => {
        if (busy) return;
        for (const other of group.querySelectorAll("button")) other.disabled = true;
        sendMessage(b.payload, b.title);
      });
      group.append(el);
    }
    if (group.childElementCount) {
      ui.messages.append(group);
      scrollToEnd();
    }
  }

  // A rich answer; its buttons send their payload like a quick reply.
  function addRich(payload) {
    let rich = null;
    try {
      rich = window.VoltmartRich && window.VoltmartRich.render(payload, (p, title) => {
        if (!busy) sendMessage(p, title);
      });
    } catch (err) {
      // A drawing bug is not a network failure: say so; the text above is the answer.
      console.error("rich answer not shown", err);
      addError("Part of this answer could not be shown; the text above says the same.");
      return false;
    }
    if (!rich) return false;
    ui.messages.append(rich);
    scrollToEnd();
    return true;
  }

  async function sendMessage(rawText, shown) {
    const text = String(rawText || "").trim();
    if (!text || busy) return;
    if (!session) {
      addError("Please sign in first.");
      ui.signin.focus();
      return;
    }
    if (text.length > MAX_CHARS) {
      addError(`That message is too long (${text.length} characters; the limit is ${MAX_CHARS}).`);
      return;
    }
    if (session.expiresAt && Date.now() >= session.expiresAt) {
      setSignedOut("Your session has expired. Please sign in again.");
      return;
    }
    const gen = generation;
    const controller = new AbortController();
    inflight = controller;
    addBubble("user", shown || text);
    if (!shown) ui.input.value = "";
    setWaiting(true);
    try {
      const headers = { Authorization: `Bearer ${session.token}` };
      const tz = timeZone();
      if (tz) headers["X-Timezone"] = tz;
      const resp = await request("/v1/chat", { message: text }, headers, controller);
      const data = await readJson(resp);
      if (gen !== generation) return;
      if (resp.status === 401) {
        setWaiting(false);
        setSignedOut("Your session has expired. Please sign in again.");
        return;
      }
      if (resp.status === 429) {
        const secs = retryAfterSeconds(resp);
        addError(`You're sending messages too fast; try again in ${secs ?? "a few"} s`);
        return;
      }
      if (!resp.ok || !data || !Array.isArray(data.messages)) {
        const tooLong = resp.status === 413 ? " That message is too long." : "";
        addError(`Sorry, something went wrong on our side (${resp.status}).${tooLong} `
          + "Please try again.");
        return;
      }
      let shownAny = false;
      for (const m of data.messages) {
        if (!m || typeof m !== "object") continue;
        if (typeof m.text === "string" && m.text.trim() !== "") {
          addBubble("bot", m.text);
          if (Array.isArray(m.buttons)) addButtons(m.buttons);
          shownAny = true;
        } else if (m.custom) {
          shownAny = addRich(m.custom) || shownAny;
        }
      }
      if (!shownAny) {
        addNotice("The assistant had nothing to say to that. Try asking another way.");
      }
      afterReply(data.messages);
    } catch (err) {
      if (gen !== generation) return;
      const msg = failureText(err, controller);
      if (msg) addError(msg);
    } finally {
      if (gen === generation) {
        inflight = null;
        setWaiting(false);
      }
    }
  }

  function payloadsOf(messages) {
    const out = [];
    for (const m of messages) {
      if (!m || !Array.isArray(m.buttons)) continue;
      for (const b of m.buttons) if (b && typeof b.payload === "string") out.push(b.payload);
    }
    return out;
  }

  // Remember a recommendation; while closing, close unless a survey question is open.
  function afterReply(messages) {
    const payloads = payloadsOf(messages);
    if (payloads.some((p) => p.startsWith("/feedback_"))) recommended = true;
    if (closing && !payloads.some((p) => p.startsWith("/survey_"))) closeChat();
  }

  function closeChat() {
    if (inflight) inflight.abort();
    inflight = null;
    generation += 1;
    closing = false;
    recommended = false;
    session = null;
    setWaiting(false);
    ui.whoami.textContent = "Not signed in";
    addNotice("Chat closed. Thanks for visiting Voltmart! Sign in to start a new conversation.");
    for (const b of ui.messages.querySelectorAll(".replies button")) b.disabled = true;
    document.body.dataset.chat = "closed";
    refreshControls();
  }

  ui.close.addEventListener("click", () => {
    if (busy || !session) return;
    if (closing || !recommended) {
      closeChat(); // a second press closes at once
      return;
    }
    closing = true;
    sendMessage("/goodbye", "Goodbye").catch(() => {});
  });

  ui.signinForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn().catch(() => {});
  });
  ui.persona.addEventListener("change", () => {
    // switching persona signs in again with a fresh conversation
    if (session || signingIn) signIn().catch(() => {});
  });
  ui.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendMessage(ui.input.value).catch(() => {});
  });
  for (const chip of ui.chips) {
    chip.addEventListener("click", () => {
      sendMessage(chip.dataset.text).catch(() => {});
    });
  }
})();
