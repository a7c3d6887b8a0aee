"""The page's stylesheet, inlined: no CDN, no extra request, nothing to cache-bust."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root{--fg:#1a202c;--muted:#4a5568;--line:#e2e8f0;--accent:#2b6cb0;--bg:#f7fafc}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:var(--bg);font:16px/1.6 system-ui,-apple-system,
"PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",
"Segoe UI",Roboto,sans-serif;-webkit-text-size-adjust:100%}
main{max-width:980px;margin:0 auto;padding:12px 16px 32px}
a{color:var(--accent)}
header.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3em 1em}
header.top h1{font-size:1.7rem;margin:.3em 0 0}
header.top .lang{margin-left:auto}
.tagline{color:var(--muted);margin:.2em 0 .6em}
nav.toc{display:flex;flex-wrap:wrap;gap:.2em 1em;font-size:.95rem}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px;
margin:14px 0}
h2{font-size:1.25rem;margin:0 0 .5em}
h3{font-size:1.08rem;margin:.2em 0}
ul.plain,ol.plain{list-style:none;margin:0;padding:0}
.up li{display:flex;flex-wrap:wrap;align-items:baseline;gap:.2em .6em;padding:.55em 0;
border-bottom:1px solid var(--line)}
.up li:last-child{border-bottom:0}
.up .when{color:var(--muted);font-size:.92rem}
.left{margin-left:auto;font-weight:700;white-space:nowrap;color:#c53030}
.left.calm{color:#2f855a}.left.later{color:var(--muted);font-weight:600}
.badge{font-size:.75rem;line-height:1.5;padding:0 .55em;border-radius:999px;white-space:nowrap;
background:#edf2f7;color:#2d3748}
.badge.window{background:#c6f6d5;color:#22543d}.badge.deadline{background:#feebc8;color:#7b341e}
.badge.happening{background:#bee3f8;color:#2a4365}
.badge.recurring{background:#e9d8fd;color:#44337a}
.chart{overflow-x:auto;-webkit-overflow-scrolling:touch;overscroll-behavior-x:contain}
.chart-inner{position:relative;min-width:760px}
.chart svg{display:block;width:100%;height:auto}
.today-mark{position:absolute;top:0;width:1px;height:1px;scroll-initial-target:nearest}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.85rem;color:var(--muted);
margin-top:.5em}
.sw{display:inline-block;width:1.6em;height:.7em;border-radius:3px;margin-right:.35em;
vertical-align:middle;border:1.5px solid}
.sw.window{background:#68d391;border-color:#2f855a}.sw.phase{background:#fbd38d;
border-color:#dd6b20}.sw.span{background:#90cdf4;border-color:#2b6cb0}
.sw.recurring{background:#d6bcfa;border-color:#6b46c1}
.sw.today{width:2px;height:1em;border:0;background:#e53e3e}
.sw.approx{background:#fff;border-style:dashed;border-color:#718096}
.story{border-top:1px solid var(--line);padding-top:.6em;margin-top:.8em}
.story:first-of-type{border-top:0;margin-top:0}
.meta{color:var(--muted);font-size:.9rem;margin:.1em 0 .4em}
.items>li{border-top:1px dashed var(--line);padding:.35em 0}
.items>li:first-child{border-top:0}
.items h3{font-size:1rem;margin:.2em 0}
.items h3 .when{color:var(--muted);font-size:.92rem;font-weight:400;margin-right:.4em}
.items>li>:not(h3){margin-left:1em;font-size:.95rem}
blockquote{margin:.5em 0;padding:.4em .8em;border-left:4px solid #cbd5e0;background:var(--bg);
color:#2d3748}
.precision{color:var(--muted)}
code.url{display:inline-block;max-width:100%;word-break:break-all;user-select:all;
-webkit-user-select:all;background:#edf2f7;padding:.2em .5em;border-radius:4px}
.subscribe .row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.subscribe .actions{flex:1 1 320px}
.button{display:inline-block;padding:.5em 1em;border-radius:8px;background:var(--accent);
color:#fff;text-decoration:none;margin:.2em .5em .3em 0}
.button.alt{background:#fff;color:var(--accent);border:1px solid var(--accent)}
figure.qr{margin:0;text-align:center;font-size:.85rem;color:var(--muted)}
figure.qr svg{width:164px;height:164px;background:#fff}
.feeds{columns:2 220px;font-size:.95rem}
.feeds li{break-inside:avoid}
header.top h1 a{color:inherit;text-decoration:none}
form.search{display:flex;flex-wrap:wrap;gap:.3em .5em;align-items:center;margin:.4em 0}
form.search label{font-size:.9rem;color:var(--muted)}
form.search input{flex:1 1 12em;min-width:0;font:inherit;padding:.3em .5em;border:1px solid
var(--line);border-radius:6px}
form.search button{font:inherit;padding:.3em .9em;border-radius:6px;border:1px solid
var(--accent);background:var(--accent);color:#fff}
mark{background:#fefcbf;color:inherit;padding:0 .1em}
.results li{padding:.5em 0;border-bottom:1px solid var(--line)}
.results li:last-child{border-bottom:0}
.snippet{font-size:.92rem;color:#2d3748}
.index li{padding:.45em 0;border-bottom:1px solid var(--line)}
.index li:last-child{border-bottom:0}
.index .meta{display:block;margin:0}
details.past>summary{cursor:pointer;font-weight:700;font-size:1.08rem}
.crumbs{margin:.4em 0 0}
footer{color:var(--muted);font-size:.85rem;text-align:center;margin-top:1.5em}
@media (max-width:600px){main{padding:8px 10px 24px}section{padding:12px}
.left{margin-left:0}header.top .lang{margin-left:0}
.chart-inner{width:1000px}}
"""
