(function () {
  // Click a header to sort by it; click again to reverse. Cells sort by data-sort when numeric, else by text.
  var table = document.getElementById("bg-features");
  var body = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("data-order") !== "asc";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("data-order"); });
      th.setAttribute("data-order", ascending ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[column], raw = cell.getAttribute("data-sort");
        var text = raw === null ? cell.textContent : raw, number = parseFloat(text);
        return isNaN(number) || !/^\s*-?[0-9.]/.test(text) ? {n: false, v: text.toLowerCase()} : {n: true, v: number};
      }
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order;
        if (x.n && y.n) { order = x.v - y.v; } else if (x.n !== y.n) { order = x.n ? -1 : 1; }
        else { order = x.v < y.v ? -1 : x.v > y.v ? 1 : 0; }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
