// Zone rows to add and remove, and drafts kept in this browser. Plain JavaScript: the form works without it.
(function () {
  "use strict";
  var form = document.getElementById("profile-form");
  if (form) {
    var zones = document.getElementById("zones");
    var add = document.getElementById("add-zone");
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
        row.querySelectorAll("input, select").forEach(function (el) { el.value = ""; el.classList.remove("bad"); });
        row.querySelectorAll(".zone-error").forEach(function (el) { el.remove(); });
        add.parentNode.insertBefore(row, add);
        wire(row);
        row.querySelector("select").focus();
      });
    }
    // Drafts: what was typed is kept in this browser until the form is sent and accepted or cleared.
    var key = "compliance-draft-" + form.dataset.draft;
    var hasErrors = document.querySelector(".error[role=alert]") !== null;
    function snapshot() {
      var data = { fields: {}, zones: [] };
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (el.name === "csrf" || el.name.indexOf("zone-") === 0) return;
        data.fields[el.name] = el.type === "checkbox" ? el.checked : el.value;
      });
      if (zones) zones.querySelectorAll(".zone-row").forEach(function (row) {
        data.zones.push([row.querySelector("[name=zone-kind]").value, row.querySelector("[name=zone-area]").value,
                         row.querySelector("[name=zone-name]").value]);
      });
      return data;
    }
    function save() { try { localStorage.setItem(key, JSON.stringify(snapshot())); } catch (e) { /* private mode */ } }
    function restore() {
      var raw = null;
      try { raw = localStorage.getItem(key); } catch (e) { return; }
      if (!raw || hasErrors) return;          // after a refused submission the page already shows what was sent
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
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = form.dataset.restored;      // worded by the page, in its language
      form.insertBefore(note, form.firstChild);
    }
    restore();
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("submit", function () { save(); sessionStorage.setItem("compliance-sent", key); });
    var clear = document.getElementById("clear-draft");
    if (clear) clear.addEventListener("click", function () { localStorage.removeItem(key); location.reload(); });
  }
  // Logging out forgets every draft kept in this browser: the next person to log in here starts clean.
  document.querySelectorAll("form[action='/logout']").forEach(function (f) {
    f.addEventListener("submit", function () {
      try {
        Object.keys(localStorage).forEach(function (k) { if (k.indexOf("compliance-draft-") === 0) localStorage.removeItem(k); });
      } catch (e) { /* private mode */ }
    });
  });
  // A draft is dropped once its submission was accepted (the next page is not the form).
  var sent = sessionStorage.getItem("compliance-sent");
  if (sent && !form) { localStorage.removeItem(sent); sessionStorage.removeItem("compliance-sent"); }
})();
