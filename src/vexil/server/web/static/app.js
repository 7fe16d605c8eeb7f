// Vexil's dashboard works without JavaScript; this file only adds conveniences.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Pickers that submit their form as soon as they change.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // "Go back" on error pages: a script file's handler, since the pages' security
  // policy runs no inline script (nor javascript: links). Without it, Home remains.
  for (const back of document.querySelectorAll("[data-back]")) {
    if (history.length < 2) continue;
    back.hidden = false;
    back.querySelector("a").addEventListener("click", (event) => {
      event.preventDefault();
      history.back();
    });
  }
});

// ---- Both targeting editors: the hint under a condition's operator follows the choice ----
document.addEventListener("change", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || !select.dataset.opHelp) return;
  const hint = document.getElementById(select.dataset.opHelp);
  if (hint) hint.textContent = select.selectedOptions[0]?.dataset.help ?? "";
});

// ---- Administration pages: revealing and copying SDK keys and token secrets ----
// Without JavaScript, "Reveal" reloads the page with the key shown and "Copy" stays
// hidden. With it, keys are fetched (never cached) and shown in place, and copied.
(() => {
  const secrets = new Map();

  const holder = (ref) => document.querySelector(`[data-secret-for="${CSS.escape(ref)}"]`);
  const statusFor = (ref) => document.querySelector(`[data-copy-status="${CSS.escape(ref)}"]`);
  const textOf = (el) => (el.tagName === "INPUT" ? el.value : el.textContent).trim();

  async function fullSecret(ref) {
    const el = holder(ref);
    if (el && el.dataset.revealed === "true") return textOf(el);
    if (secrets.has(ref)) return secrets.get(ref);
    const url = new URL(location.pathname, location.origin);
    url.searchParams.set("reveal", ref);
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const found = page.querySelector(`[data-secret-for="${CSS.escape(ref)}"]`);
    if (!found || found.dataset.revealed !== "true") throw new Error("not found");
    secrets.set(ref, textOf(found));
    return secrets.get(ref);
  }

  function say(ref, message) {
    const status = statusFor(ref);
    if (!status) return;
    status.textContent = "";
    // A fresh text node, so that screen readers announce a repeated message too.
    requestAnimationFrame(() => { status.textContent = message; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form[data-reveal]")) {
      const ref = form.dataset.reveal;
      const button = form.querySelector("button");
      const el = holder(ref);
      if (!el || !button) continue;
      const masked = el.dataset.revealed === "true" ? null : el.textContent;
      let shownMask = masked;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const revealing = button.getAttribute("aria-pressed") !== "true";
        try {
          if (revealing) {
            const secret = await fullSecret(ref);
            shownMask = shownMask ?? el.textContent;
            el.textContent = secret;
          } else {
            if (shownMask === null) { form.submit(); return; }
            el.textContent = shownMask;
          }
        } catch (error) {
          form.submit();  // fall back to the page that shows it
          return;
        }
        button.setAttribute("aria-pressed", revealing ? "true" : "false");
        button.textContent = revealing ? "Hide" : "Reveal";
        const label = button.getAttribute("aria-label");
        if (label) button.setAttribute("aria-label", label.replace(/^(Reveal|Hide)/, revealing ? "Hide" : "Reveal"));
      });
    }

    for (const button of document.querySelectorAll("button[data-copy]")) {
      const ref = button.dataset.copy;
      if (!navigator.clipboard) continue;  // stays hidden: select the key instead
      button.hidden = false;
      button.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(await fullSecret(ref));
          say(ref, "Copied to the clipboard.");
        } catch (error) {
          say(ref, "Could not copy: reveal the key and copy it by hand.");
        }
      });
    }
  });
})();
// ---- end of the administration pages ----

// ---- Flag pages: creating a flag, the targeting editor, live updates ----
// Without this code the pages still work: the add, move and remove buttons are submit
// buttons the server answers by re-rendering the form. Here they act in the page.
(() => {
  const onReady = (fn) => {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  };
  onReady(() => {
    newFlagForm(document.querySelector("[data-new-flag]"));
    targetingEditor(document.querySelector("[data-targeting-form]"));
    liveFlag(document.querySelector("[data-flag-live]"));
  });

  let counter = 0;
  const uid = (prefix) => `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;

  // A copy of a <template>'s element, with placeholders replaced (ids and names only).
  function fromTemplate(id, replacements) {
    const source = document.getElementById(id);
    if (!source) return null;
    let html = source.innerHTML;
    for (const [from, to] of Object.entries(replacements)) html = html.split(from).join(to);
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  function newFlagForm(form) {
    if (!form) return;
    const rows = form.querySelector("[data-variation-rows]");
    const add = form.querySelector("[data-add-variation]");
    const type = form.querySelector("[data-flag-type]");
    const rowList = () => [...rows.querySelectorAll("[data-variation-row]")];
    const pairs = () => rowList().map((row) => [...row.querySelectorAll("input")].map((i) => i.value.trim()));
    form.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.matches("[data-add-variation]")) {
        event.preventDefault();
        const row = fromTemplate("fn-row-template", { __I__: uid("j"), __N__: String(rowList().length + 1) });
        rows.append(row);
        row.querySelector("input").focus();
      } else if (button.matches("[data-remove-variation]")) {
        event.preventDefault();
        button.closest("[data-variation-row]").remove();
        add.focus();
      }
    });
    type.addEventListener("change", () => {
      const now = pairs();
      const untouched = now.every(([n, v]) => (!n && !v) || (n === "on" && v === "true") || (n === "off" && v === "false"));
      if (!untouched) return;
      const fill = type.value === "boolean" ? [["on", "true"], ["off", "false"]] : [["", ""], ["", ""]];
      rowList().forEach((row, i) => {
        const [name, value] = row.querySelectorAll("input");
        [name.value, value.value] = fill[i] || ["", ""];
      });
    });
  }

  function targetingEditor(form) {
    if (!form) return;
    const rules = form.querySelector("[data-rules]");
    const status = form.querySelector("[data-save-status]");
    const say = (text) => { if (status) status.textContent = text; };

    const renumber = () => {
      rules.querySelectorAll("[data-rule]").forEach((rule, i) => {
        rule.querySelector("[data-rule-number]").textContent = String(i + 1);
      });
      const none = form.querySelector("[data-no-rules]");
      if (none) none.hidden = rules.children.length > 0;
    };

    const move = (button, place) => {
      const rule = button.closest("[data-rule]");
      place(rule);
      renumber();
      button.focus();
      say(`Rule moved to position ${[...rules.children].indexOf(rule) + 1} (not saved yet).`);
    };

    const actions = {
      "add-rule": () => {
        const rule = fromTemplate("fp-rule-template", { __R__: uid("n"), __C__: uid("c") });
        rules.append(rule);
        renumber();
        rule.querySelector("[id$='-attribute']").focus();
      },
      "remove-rule": (button) => {
        button.closest("[data-rule]").remove();
        renumber();
        form.querySelector("#add-rule").focus();
        say("Rule removed (not saved yet).");
      },
      up: (button) => move(button, (rule) => rule.previousElementSibling?.before(rule)),
      down: (button) => move(button, (rule) => rule.nextElementSibling?.after(rule)),
      "add-clause": (button, target) => {
        const clause = fromTemplate("fp-clause-template", { __R__: target, __C__: uid("c") });
        button.closest("[data-rule]").querySelector("[data-clauses]").append(clause);
        clause.querySelector("input:not([type=hidden])").focus();
      },
      "remove-clause": (button) => {
        const rule = button.closest("[data-rule]");
        button.closest("[data-clause]").remove();
        rule.querySelector("[id$='-add-clause']").focus();
      },
      "add-prereq": () => {
        const item = fromTemplate("fp-prereq-template", { __P__: uid("p") });
        form.querySelector("[data-prereqs]").append(item);
        item.querySelector("select").focus();
      },
      "remove-prereq": (button) => {
        button.closest("[data-prereq]").remove();
        form.querySelector("#add-prereq").focus();
      },
    };

    form.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-editor-action]");
      if (!button) return;
      const [verb, target] = button.value.split(/:(.*)/s);
      if (!actions[verb]) return;
      event.preventDefault();
      actions[verb](button, target);
      checkTotals();
    });

    // Rollouts: the total as you type; saving waits until every rollout in use is 100%.
    const checkTotals = () => {
      let bad = 0;
      for (const serve of form.querySelectorAll("[data-serve]")) {
        let thousandths = 0;
        let valid = true;
        for (const input of serve.querySelectorAll("[data-weight]")) {
          const text = input.value.trim();
          const weight = text === "" ? 0 : Number(text);
          if (!Number.isFinite(weight) || weight < 0) valid = false;
          else thousandths += Math.round(weight * 1000);
        }
        const ok = valid && thousandths === 100000;
        const output = serve.querySelector("[data-total]");
        const text = valid ? `Total: ${thousandths / 1000}%` : "Total: ?%";
        if (output.textContent !== text) output.textContent = text;
        output.classList.toggle("bad", !ok);
        if (serve.querySelector("[data-rollout-kind]").checked && !ok) bad += 1;
      }
      for (const save of form.querySelectorAll("[data-save]")) save.disabled = bad > 0;
      say(bad ? "Rollout percentages must add up to 100% before saving." : "");
    };
    form.addEventListener("input", checkTotals);
    form.addEventListener("change", checkTotals);
    checkTotals();
  }

  // An open flag page learns of changes made elsewhere; the form being edited is left alone.
  function liveFlag(page) {
    if (!page || !window.fetch) return;
    const banner = document.querySelector("[data-live-banner]");
    let announced = "";
    const poll = async () => {
      if (!document.hidden) {
        try {
          const response = await fetch(page.dataset.stateUrl, {
            headers: { Accept: "application/json" },
            credentials: "same-origin",
            cache: "no-store",
          });
          if (response.ok) show(await response.json());
        } catch (error) {
          // Offline for a moment: try again at the next tick.
        }
      }
      window.setTimeout(poll, 2000);
    };
    const show = (state) => {
      for (const badge of document.querySelectorAll("[data-live-on]")) {
        badge.textContent = state.on ? "on" : "off";
        badge.classList.toggle("on", state.on);
        badge.classList.toggle("off", !state.on);
      }
      const changed =
        String(state.version) !== page.dataset.version ||
        String(state.flag_version) !== page.dataset.flagVersion;
      const seen = `${state.version}/${state.flag_version}`;
      if (!changed || !banner || announced === seen) return;
      announced = seen;
      banner.textContent = "";
      banner.append(
        `This flag was changed${state.by ? ` by ${state.by}` : ""}${state.at ? ` at ${state.at}` : ""}: `,
      );
      const link = document.createElement("a");
      link.href = page.dataset.reloadUrl;
      link.textContent = "reload to see it";
      banner.append(link, ". Unsaved changes in the form below are kept until you do.");
    };
    window.setTimeout(poll, 2000);
  }
})();
// ---- end of the flag pages ----
