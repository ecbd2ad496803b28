// Zone rows to add and remove, drafts kept in this browser, one submission per page, the problems' summary,
// and tables that say they scroll. Plain JavaScript: the form works without it. Every word shown comes from
// the page (data-* attributes worded by the server in the page's language).
(function () {
  "use strict";
  var form = document.getElementById("profile-form");
  if (form) {
    var zones = document.getElementById("zones");
    var add = document.getElementById("add-zone");
    var added = 0;
    function wire(row) {
      var remove = row.querySelector("button.remove");
      if (remove) remove.addEventListener("click", function () {
        var rows = zones.querySelectorAll(".zone-row");
        if (rows.length > 1) { row.remove(); } else { row.querySelectorAll("input, select").forEach(function (el) { el.value = ""; }); }
        save();
      });
    }
    if (zones && add) {
      zones.querySelectorAll(".zone-row").forEach(wire);
      add.addEventListener("click", function () {
        var rows = zones.querySelectorAll(".zone-row");
        var row = rows[rows.length - 1].cloneNode(true);
        var n = "new" + (added += 1);            // ids of its own: the summary's links keep pointing at their rows
        row.querySelectorAll(".zone-error").forEach(function (el) { el.remove(); });
        row.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
        row.querySelectorAll("input, select").forEach(function (el) {
          el.value = "";
          el.removeAttribute("aria-invalid");
          el.removeAttribute("aria-describedby");
          el.id = el.id.replace(/^zone-[^-]+-/, "zone-" + n + "-");
        });
        row.querySelectorAll("label[for]").forEach(function (el) {
          el.htmlFor = el.htmlFor.replace(/^zone-[^-]+-/, "zone-" + n + "-");
        });
        add.parentNode.insertBefore(row, add);
        wire(row);
        row.querySelector("select").focus();
      });
    }

    // The summary of problems: each links to its field, and following the link puts the cursor there.
    var summary = document.getElementById("problems");
    if (summary) {
      summary.querySelectorAll("a[data-field]").forEach(function (link) {
        link.addEventListener("click", function (event) {
          var target = document.getElementById(link.dataset.field);
          if (!target) return;
          event.preventDefault();
          var field = target.matches("input, select") ? target : target.querySelector("input, select");
          target.scrollIntoView({ block: "center" });
          if (field) field.focus({ preventScroll: true });
          history.replaceState(null, "", "#" + link.dataset.field);
        });
      });
    }

    // Drafts: what was typed is kept in this browser until the form is sent and accepted or cleared.
    var key = "compliance-draft-" + form.dataset.draft;
    var bar = document.getElementById("draft-bar");
    var note = document.getElementById("draft-note");
    function snapshot() {
      var data = { fields: {}, zones: [] };
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (el.type === "file" || el.type === "hidden" || el.name === "submission" || el.name.indexOf("zone-") === 0) return;
        data.fields[el.name] = el.type === "checkbox" ? el.checked : el.value;
      });
      if (zones) zones.querySelectorAll(".zone-row").forEach(function (row) {
        data.zones.push([row.querySelector("[name=zone-kind]").value, row.querySelector("[name=zone-area]").value,
                         row.querySelector("[name=zone-name]").value]);
      });
      return data;
    }
    function showBar(text) {
      if (!bar) return;
      note.textContent = text;
      bar.hidden = false;
    }
    function save() {
      try { localStorage.setItem(key, JSON.stringify(snapshot())); } catch (e) { return; /* private mode */ }
      if (bar && bar.hidden) showBar(form.dataset.saved);
    }
    function restore() {
      if (form.dataset.sent) { save(); return; }   // the page shows what was just sent (a plan to change, a refused
                                                    // form): that is the draft now, kept for a reload or a language
      var raw = null;
      try { raw = localStorage.getItem(key); } catch (e) { return; }
      if (!raw) return;
      var data = JSON.parse(raw);
      Object.keys(data.fields).forEach(function (name) {
        var el = form.querySelector("[name='" + name.replace(/'/g, "\\'") + "']");
        if (!el || el.readOnly) return;
        if (el.type === "checkbox") el.checked = !!data.fields[name]; else el.value = data.fields[name];
      });
      if (zones && add && data.zones.length) {
        var rows = zones.querySelectorAll(".zone-row");
        for (var i = rows.length; i < data.zones.length; i++) add.click();
        rows = zones.querySelectorAll(".zone-row");
        for (var j = rows.length - 1; j >= data.zones.length; j--) rows[j].remove();   // rows deleted in the draft stay deleted
        rows = zones.querySelectorAll(".zone-row");
        data.zones.forEach(function (z, i) {
          rows[i].querySelector("[name=zone-kind]").value = z[0];
          rows[i].querySelector("[name=zone-area]").value = z[1];
          rows[i].querySelector("[name=zone-name]").value = z[2];
        });
      }
      showBar(form.dataset.restored);               // worded by the page, in its language
    }
    restore();
    if (summary) summary.focus();
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    var clear = document.getElementById("clear-draft");
    if (clear) clear.addEventListener("click", function () {
      if (!window.confirm(clear.dataset.confirm)) return;      // asked first: it cannot be undone
      try { localStorage.removeItem(key); } catch (e) { /* private mode */ }
      location.assign(location.pathname + location.search);   // the form afresh (never a POST sent again)
    });

    // A date typed over the calendar that is not a whole date reaches the server as nothing: say so here.
    function badDates() {
      var bad = [];
      form.querySelectorAll("input[type=date]").forEach(function (el) {
        var id = el.id + "-error";
        var shown = document.getElementById(id);
        if (el.validity && el.validity.badInput) {
          bad.push(el);
          el.setAttribute("aria-invalid", "true");
          el.setAttribute("aria-describedby", id);
          if (!shown) {
            shown = document.createElement("p");
            shown.className = "error";
            shown.id = id;
            el.insertAdjacentElement("afterend", shown);
          }
          shown.textContent = form.dataset.badDate;
        }
      });
      return bad;
    }

    // One submission per page: the button is disabled while it is sent, and the page's key lets the server
    // recognise the same page sent again.
    var send = document.getElementById("send");
    var sending = false;
    form.addEventListener("submit", function (event) {
      var bad = badDates();
      if (bad.length) { event.preventDefault(); bad[0].focus(); return; }
      if (sending) { event.preventDefault(); return; }
      sending = true;
      save();
      try { sessionStorage.setItem("compliance-sent", key); } catch (e) { /* private mode */ }
      if (send) {
        send.dataset.label = send.textContent;
        send.textContent = form.dataset.sending;
        send.setAttribute("aria-busy", "true");
        setTimeout(function () { send.disabled = true; }, 0);   // after the browser has taken the form to send
      }
    });
    window.addEventListener("pageshow", function (event) {       // back to this page: it may be sent again
      if (!event.persisted || !send) return;
      sending = false;
      send.disabled = false;
      send.removeAttribute("aria-busy");
      if (send.dataset.label) send.textContent = send.dataset.label;
    });
  }

  // A table wider than the screen scrolls in its frame; a hint above it says so while there is more to see.
  var hint = document.body.dataset.scrollHint;
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    if (!wrap.hasAttribute("tabindex")) wrap.setAttribute("tabindex", "0");     // scrolls from the keyboard too
    var label = document.createElement("p");
    label.className = "scroll-hint";
    label.textContent = hint || "";
    label.hidden = true;
    wrap.parentNode.insertBefore(label, wrap);
    function measure() { label.hidden = !hint || wrap.scrollWidth <= wrap.clientWidth + 1; }
    measure();
    window.addEventListener("resize", measure);
  });

  // Logging out forgets every draft kept in this browser: the next person to log in here starts clean.
  document.querySelectorAll("form[action='/logout']").forEach(function (f) {
    f.addEventListener("submit", function () {
      try {
        Object.keys(localStorage).forEach(function (k) { if (k.indexOf("compliance-draft-") === 0) localStorage.removeItem(k); });
      } catch (e) { /* private mode */ }
    });
  });
  // A draft is dropped once its submission was accepted (the page says so: a result, a what-if), and kept when
  // it was not (an expired form, a refused one, an error): nothing typed is lost.
  var sent = null;
  try { sent = sessionStorage.getItem("compliance-sent"); } catch (e) { /* private mode */ }
  if (sent && !form && document.querySelector("[data-accepted]")) {
    localStorage.removeItem(sent);
    sessionStorage.removeItem("compliance-sent");
  }
})();

// The inspection's photos: how many are chosen for a clause, said beside its button.
document.querySelectorAll(".photo-input").forEach(function (input) {
  input.addEventListener("change", function () {
    var count = input.parentNode.querySelector(".photo-count");
    if (count) count.textContent = input.files.length ? count.dataset.chosen.replace("{n}", input.files.length) : "";
  });
});
