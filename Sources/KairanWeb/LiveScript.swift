/// The only script: live updates for the parts of a page marked `data-live-region`.
///
/// It opens `/v1/stream` with a single-use ticket, subscribes to the streams the page names
/// (`data-live-streams` on `<main>`), and when one of them has news it fetches the page
/// again and swaps in the fresh regions. All the HTML is rendered by the server; the script
/// never builds markup from event data. Without JavaScript the page works the same, with a
/// reload link instead.
enum LiveScript {
    static let text = #"""
        const main = document.querySelector("main[data-live-streams]");
        if (main) start(main);
        const pushSection = document.querySelector("[data-push]");
        if (pushSection) setUpPush(pushSection);
        for (const picker of document.querySelectorAll("[data-attach]")) setUpAttachments(picker);

        // Photos and PDFs for a post or notice: each chosen file is uploaded at once (the
        // server checks its type and strips where it was taken) and its id joins the form as
        // a hidden field. Without JavaScript the picker stays hidden and the form sends text.
        // The accept list leaves HEIC out, so an iPhone hands its photos over as JPEG.
        function setUpAttachments(section) {
          const form = section.closest("form");
          const input = section.querySelector("input[type=file]");
          const list = section.querySelector("[data-attach-list]");
          const max = Number(section.dataset.attach) || 4;
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          section.hidden = false;
          input.addEventListener("change", async () => {
            const files = [...input.files];
            input.value = "";
            for (const file of files) {
              const item = document.createElement("li");
              list.append(item);
              if (form.querySelectorAll('input[name="attachment"]').length >= max) {
                item.textContent = file.name + ": 添付できるのは " + max + " 件までです。";
                item.className = "error";
                continue;
              }
              item.textContent = file.name + " を送っています…";
              try {
                const response = await fetch("/attachments?filename=" + encodeURIComponent(file.name), {
                  method: "POST", credentials: "same-origin", body: file,
                  headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" },
                });
                const answer = await response.json();
                if (!response.ok) {
                  item.textContent = file.name + ": " + ((answer.error && answer.error.message) || "送れませんでした。");
                  item.className = "error";
                  continue;
                }
                const field = document.createElement("input");
                field.type = "hidden";
                field.name = "attachment";
                field.value = String(answer.id);
                form.append(field);
                item.textContent = answer.filename + " を添付しました。";
                const remove = document.createElement("button");
                remove.type = "button";
                remove.className = "small secondary";
                remove.textContent = "取り消す";
                remove.setAttribute("aria-label", answer.filename + " の添付を取り消す");
                remove.addEventListener("click", () => {
                  field.remove(); item.remove(); input.focus();
                  // Gone from the server too (otherwise it would wait a day to expire).
                  fetch("/attachments/" + answer.id, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
                    .catch(() => {});
                });
                item.append(" ", remove);
              } catch (error) {
                item.textContent = file.name + ": 送れませんでした。通信状態を確かめて、もう一度選んでください。";
                item.className = "error";
              }
            }
          });
        }

        // マイページ: this device asks for Web Push (the service worker is /sw.js) and hands
        // the subscription to the server with the page's form token.
        function setUpPush(section) {
          const button = section.querySelector("[data-push-enable]");
          const state = section.querySelector("[data-push-state]");
          if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
            state.textContent = "このブラウザは通知に対応していません。iPhone では、ホーム画面に追加してから開くと使えます。";
            return;
          }
          button.hidden = false;
          button.addEventListener("click", async () => {
            button.disabled = true;
            state.textContent = "登録しています…";
            try {
              if (await Notification.requestPermission() !== "granted") {
                state.textContent = "通知が許可されませんでした。ブラウザの設定で、このサイトからの通知を許可してください。";
                button.disabled = false;
                return;
              }
              const registration = await navigator.serviceWorker.register("/sw.js");
              await navigator.serviceWorker.ready;
              const subscription = await registration.pushManager.getSubscription()
                || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64url(section.dataset.pushKey) });
              const csrf = document.querySelector('meta[name="csrf-token"]').content;
              const response = await fetch("/push-devices", {
                method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                body: JSON.stringify(subscription.toJSON()),
              });
              if (!response.ok) throw new Error("registration answered " + response.status);
              location.assign("/me?m=push-added");
            } catch (error) {
              state.textContent = "この端末を登録できませんでした。時間をおいて、もう一度お試しください。";
              button.disabled = false;
            }
          });
        }

        function base64url(text) {
          const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
          return Uint8Array.from(binary, (c) => c.charCodeAt(0));
        }

        function start(main) {
          const streams = main.dataset.liveStreams.split(" ").filter(Boolean);
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const status = document.querySelector("[data-live-status]");
          const note = document.createElement("span");
          note.setAttribute("role", "status");
          note.className = "live-note";
          if (status) status.prepend(note);
          const offsets = {};
          let retry = 1000;
          let refreshing = null;
          let again = false;

          function say(text) { note.textContent = text; }

          function describe(element) {
            const form = element.closest("form");
            return (form ? form.getAttribute("action") : "") + "|" + (element.getAttribute("href") || "") + "|" + element.textContent;
          }

          // What the person was doing in a region survives its refresh: a panel they opened
          // stays open, and what they typed or ticked but did not send yet stays (both found
          // again by id).
          function carryOver(current, replacement) {
            for (const panel of current.querySelectorAll("details[open][id]")) {
              const again = replacement.querySelector("#" + CSS.escape(panel.id));
              if (again) again.open = true;
            }
            for (const field of current.querySelectorAll("input[id], textarea[id], select[id]")) {
              const again = replacement.querySelector("#" + CSS.escape(field.id));
              if (!again) continue;
              if (field.type === "checkbox" || field.type === "radio") {
                if (field.checked !== field.defaultChecked) again.checked = field.checked;
              } else if (field.tagName === "SELECT") {
                if ([...field.options].some((option) => option.selected !== option.defaultSelected)) again.value = field.value;
              } else if (field.value !== field.defaultValue) {
                again.value = field.value;
              }
            }
          }

          async function refresh(announce) {
            if (refreshing) { again = true; return; }
            refreshing = (async () => {
              try {
                const response = await fetch(location.pathname + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } });
                if (!response.ok) return;
                const page = new DOMParser().parseFromString(await response.text(), "text/html");
                for (const fresh of page.querySelectorAll("[data-live-region][id]")) {
                  const current = document.getElementById(fresh.id);
                  if (current && current.innerHTML !== fresh.innerHTML) {
                    // Keyboard users keep their place: the control that had focus is found
                    // again in the new region by what it does (its form's action, its link).
                    const active = current.contains(document.activeElement) ? document.activeElement : null;
                    const focused = active ? describe(active) : null;
                    const replacement = document.importNode(fresh, true);
                    carryOver(current, replacement);
                    current.replaceWith(replacement);
                    if (active && active.id && document.getElementById(active.id)) {
                      document.getElementById(active.id).focus();
                    } else if (focused) {
                      const again = [...replacement.querySelectorAll("a, button")].find((element) => describe(element) === focused);
                      if (again) again.focus();
                    }
                    if (announce) say("新しい情報を表示しました。");
                  }
                }
              } catch (error) {
                // The next event or reconnect tries again; the reload link still works.
              }
            })();
            await refreshing;
            refreshing = null;
            if (again) { again = false; refresh(announce); }
          }

          async function connect() {
            let ticket;
            try {
              const response = await fetch("/stream-ticket", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
              if (!response.ok) throw new Error("ticket " + response.status);
              ticket = (await response.json()).ticket;
            } catch (error) {
              retryLater();
              return;
            }
            const scheme = location.protocol === "https:" ? "wss:" : "ws:";
            const socket = new WebSocket(scheme + "//" + location.host + "/v1/stream?ticket=" + encodeURIComponent(ticket));
            let first = true;
            socket.onopen = () => {
              retry = 1000;
              for (const stream of streams) {
                const message = { type: "subscribe", stream: stream };
                if (offsets[stream] !== undefined) message.after = offsets[stream];
                socket.send(JSON.stringify(message));
              }
            };
            socket.onmessage = (message) => {
              const frame = JSON.parse(message.data);
              if (frame.type === "subscribed") {
                offsets[frame.stream] = frame.offset;
                say("自動で更新しています。");
                // What happened between rendering the page and subscribing is fetched once.
                if (first) { first = false; refresh(false); }
              } else if (frame.type === "event") {
                offsets[frame.stream] = frame.offset;
                refresh(true);
              } else if (frame.type === "gap" || frame.type === "revoked") {
                refresh(true);
              }
            };
            socket.onclose = () => {
              say("");
              retryLater();
            };
          }

          function retryLater() {
            setTimeout(connect, retry);
            retry = Math.min(retry * 2, 30000);
          }

          connect();
        }
        """#
}
