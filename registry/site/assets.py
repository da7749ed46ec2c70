"""The site's one style sheet and one script, inlined into every page (the CSP allows them by hash).

The script only enhances: without it every page still shows all its rows, every chart and a default
comparison. With it, long tables are paged and filtered, the metric charts can be chosen, and the compare
page compares any two versions from the data embedded in it (no server).
"""

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--link:#0969da;
--prod:#1a7f37;--stag:#9a6700;--arch:#6e7781;--none:#8c959f;--other:#8250df;--del:#cf222e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{border-bottom:1px solid var(--line);background:var(--soft);padding:10px 24px}
main{padding:8px 24px 24px;max-width:1280px}
footer{border-top:1px solid var(--line);color:var(--muted);padding:10px 24px;font-size:12px}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
a.ext::after{content:" \\2197";font-size:11px}
h1{font-size:24px;margin:12px 0 4px}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.muted{color:var(--muted)}.lead{color:var(--muted);margin:0 0 8px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.mono{white-space:nowrap}
table{border-collapse:collapse;margin:4px 0 8px}
table.grid{width:100%}
table.cmp{width:auto;min-width:520px}
.grid th,.grid td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
.grid thead th{background:var(--soft);font-weight:600;white-space:nowrap;position:sticky;top:0}
.grid tbody tr:hover{background:#f3f6fa}
.grid td.n,.grid th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.kv th,.kv td{padding:3px 10px 3px 0;text-align:left;vertical-align:top;border-bottom:1px solid #eef1f4}
.kv th{font-weight:600;color:var(--muted);white-space:nowrap}
.kv .kv{margin:0}
td.desc{max-width:320px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
tr.deleted td{color:var(--muted);text-decoration:line-through}
tr.deleted td:first-child,tr.deleted td:nth-child(2){text-decoration:none}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;
background:var(--other);white-space:nowrap}
.st-production{background:var(--prod)}.st-staging{background:var(--stag)}.st-archived{background:var(--arch)}
.st-none{background:#eaeef2;color:var(--fg)}.st-deleted{background:var(--del)}
.alias{display:inline-block;padding:0 6px;border:1px solid var(--line);border-radius:10px;font-size:12px;
background:var(--soft);white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:8px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:16px;font-weight:600}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:0 32px}
figure.chart{margin:8px 0 16px;max-width:900px}
figure.chart svg{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:6px}
figure.chart figcaption{color:var(--muted);font-size:12px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
fieldset.metric-choice{border:1px solid var(--line);border-radius:6px;padding:6px 10px;margin:8px 0}
fieldset.metric-choice label{margin-right:14px;white-space:nowrap}
.pager{display:flex;gap:8px;align-items:center;margin:6px 0}
.pager input{padding:3px 6px;border:1px solid var(--line);border-radius:4px;min-width:220px}
.pager button{padding:2px 10px}
.banner{border:1px solid var(--del);background:#ffebe9;border-radius:6px;padding:8px 12px;margin:8px 0}
.ok{color:var(--prod);font-weight:600}.fail{color:var(--del);font-weight:600}
form.compare{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
select{padding:2px 4px}
ul{margin:2px 0;padding-left:18px}
"""

JS = """
(function(){
"use strict";
function el(tag,attrs,text){var e=document.createElement(tag);for(var k in attrs)e.setAttribute(k,attrs[k]);
if(text!=null)e.textContent=text;return e;}
function esc(s){return String(s==null?"":s).replace(/&/g,"&amp;").replace(/</g,"&lt;").replace(/>/g,"&gt;")
.replace(/"/g,"&quot;").replace(/'/g,"&#x27;");}

/* Long tables: pages of data-page-size rows, and a filter over the rows' text. */
function pager(t){
  var size=parseInt(t.getAttribute("data-page-size"),10),rows=[].slice.call(t.tBodies[0].rows);
  if(!(size>0)||rows.length<=size)return;
  var texts=rows.map(function(r){return r.textContent.toLowerCase();}),shown=rows,page=0;
  var what=t.getAttribute("data-label")||"rows";
  var nav=el("div",{"class":"pager"}),q=el("input",{type:"search",placeholder:"Filter "+what,
    "aria-label":"Filter "+what,"aria-controls":t.id});
  var prev=el("button",{type:"button"},"\\u2039 Previous"),next=el("button",{type:"button"},"Next \\u203a");
  var status=el("span",{"class":"muted","aria-live":"polite"});
  nav.appendChild(q);nav.appendChild(prev);nav.appendChild(status);nav.appendChild(next);
  t.parentNode.insertBefore(nav,t);
  function draw(){
    var pages=Math.max(1,Math.ceil(shown.length/size));if(page>=pages)page=pages-1;
    var start=page*size,end=Math.min(start+size,shown.length);
    rows.forEach(function(r){r.hidden=true;});
    for(var i=start;i<end;i++)shown[i].hidden=false;
    status.textContent=shown.length?(start+1)+"\\u2013"+end+" of "+shown.length+" "+what+
      (shown.length<rows.length?" (filtered from "+rows.length+")":"")+", page "+(page+1)+" of "+pages:"no match";
    prev.disabled=page===0;next.disabled=end>=shown.length;
  }
  q.addEventListener("input",function(){var s=q.value.trim().toLowerCase();
    shown=s?rows.filter(function(r,i){return texts[i].indexOf(s)>=0;}):rows;page=0;draw();});
  prev.addEventListener("click",function(){page--;draw();});
  next.addEventListener("click",function(){page++;draw();});
  draw();
}
[].forEach.call(document.querySelectorAll("table[data-page-size]"),pager);

/* Which metric charts to show. */
var choice=document.querySelector("fieldset.metric-choice");
if(choice){
  var boxes=[].slice.call(choice.querySelectorAll("input[data-chart]"));
  var sync=function(){boxes.forEach(function(b){var f=document.getElementById(b.getAttribute("data-chart"));
    if(f)f.hidden=!b.checked;});};
  boxes.forEach(function(b){b.addEventListener("change",sync);});
  choice.hidden=false;sync();
}

/* Compare any two versions from the data embedded in the page. */
var data=document.getElementById("compare-data");
if(data){compare(JSON.parse(data.textContent));}
function g4(x){
  if(x===0)return "0";
  var parts=x.toExponential(3).split("e"),e=+parts[1];
  if(e<-4||e>=4){var m=parts[0].replace(/\\.?0+$/,"");var a=Math.abs(e);
    return m+"e"+(e<0?"-":"+")+(a<10?"0":"")+a;}
  var t=x.toFixed(Math.max(0,3-e));
  if(t.indexOf(".")>=0)t=t.replace(/0+$/,"").replace(/\\.$/,"");
  return t;
}
function signed(d){return d===null?"-":(d===0?"0":(d>0?"+":"")+g4(d));}
function compare(d){
  var byV={};d.versions.forEach(function(v){byV[v.v]=v;});
  var a=document.getElementById("cmp-a"),b=document.getElementById("cmp-b"),out=document.getElementById("compare-result");
  function label(v){return "v"+v.v+" ("+(v.deleted?"deleted":v.stage)+")";}
  function commit(v){
    if(!v.git)return "-";var s=esc(v.git.slice(0,12));
    var html=d.commit_url?'<a class="ext" href="'+esc(d.commit_url+encodeURIComponent(v.git))+'" rel="noreferrer noopener">'+s+"</a>":
      '<span class="mono">'+s+"</span>";
    return html+(v.dirty?" (dirty)":"");
  }
  function changed(kind,x,y,fmt){
    var keys=Object.keys(x).concat(Object.keys(y).filter(function(k){return !(k in x);})).sort();
    return keys.filter(function(k){return x[k]!==y[k];}).map(function(k){return [k,fmt(x[k]),fmt(y[k]),x[k],y[k]];});
  }
  function render(va,vb){
    var A="v"+va.v,B="v"+vb.v,h="<h2>"+esc(label(va))+" vs "+esc(label(vb))+"</h2><h3>Metrics</h3>";
    var names=va.metrics.map(function(m){return m[0];}),ma={},mb={};
    va.metrics.forEach(function(m){ma[m[0]]=m;});vb.metrics.forEach(function(m){mb[m[0]]=m;
      if(names.indexOf(m[0])<0)names.push(m[0]);});
    if(names.length){
      h+='<table class="grid cmp" id="cmp-metrics"><thead><tr><th scope="col">metric</th><th scope="col" class="n">'+A+
        '</th><th scope="col" class="n">'+B+'</th><th scope="col" class="n">difference</th></tr></thead><tbody>';
      names.forEach(function(n){var x=ma[n],y=mb[n],dv=null;
        if(x&&y&&x[1]!==null&&y[1]!==null)dv=Math.round((y[1]-x[1])*1e6)/1e6;
        h+="<tr><td>"+esc(n)+'</td><td class="n">'+esc(x?x[2]:"-")+'</td><td class="n">'+esc(y?y[2]:"-")+
          '</td><td class="n">'+esc(signed(dv))+"</td></tr>";});
      h+="</tbody></table>";
    }else h+='<p class="muted">No metrics.</p>';
    var fmtP=function(x){return x===undefined?"-":x;},fmtD=function(x){return x===undefined?"-":String(x).slice(0,12);};
    [["Params that changed","param","cmp-params",changed("params",va.params,vb.params,fmtP),"No param changed."],
     ["Data that changed","data","cmp-data",changed("data",va.data,vb.data,fmtD),"No data changed."]].forEach(function(s){
      h+="<h3>"+s[0]+"</h3>";
      if(!s[3].length){h+='<p class="muted">'+s[4]+"</p>";return;}
      h+='<table class="grid cmp" id="'+s[2]+'"><thead><tr><th scope="col">'+s[1]+'</th><th scope="col">'+A+
        '</th><th scope="col">'+B+"</th></tr></thead><tbody>";
      s[3].forEach(function(r){h+="<tr><td>"+esc(r[0])+'</td><td title="'+esc(r[3]===undefined?"":r[3])+'">'+esc(r[1])+
        '</td><td title="'+esc(r[4]===undefined?"":r[4])+'">'+esc(r[2])+"</td></tr>";});
      h+="</tbody></table>";
    });
    h+='<h3>Code and artifact</h3><table class="kv"><tbody><tr><th scope="row">git commit</th><td>'+A+": "+commit(va)+
      " \\u00b7 "+B+": "+commit(vb)+'</td></tr><tr><th scope="row">artifact</th><td>'+
      (va.md5&&va.md5===vb.md5?"the same bytes ("+esc(va.md5.slice(0,12))+")":
       esc(A+" "+(va.md5||"-").slice(0,12)+" \\u00b7 "+B+" "+(vb.md5||"-").slice(0,12)))+"</td></tr></tbody></table>";
    out.innerHTML=h;
    document.title=d.model+" "+A+" vs "+B+" \\u00b7 compare";
  }
  function wanted(){
    var p=new URLSearchParams((location.hash||"").replace(/^#/,"")),s=new URLSearchParams(location.search);
    var x=p.get("a")||s.get("a"),y=p.get("b")||s.get("b");
    return [x&&byV[+String(x).replace(/^v/,"")]?+String(x).replace(/^v/,""):null,
            y&&byV[+String(y).replace(/^v/,"")]?+String(y).replace(/^v/,""):null];
  }
  function show(){
    var w=wanted();
    if(w[0]===null&&w[1]===null){a.value=String(d.default[0]);b.value=String(d.default[1]);return;}
    var x=w[0]===null?d.default[0]:w[0],y=w[1]===null?d.default[1]:w[1];
    a.value=String(x);b.value=String(y);render(byV[x],byV[y]);
  }
  function pick(){location.hash="a="+a.value+"&b="+b.value;}
  a.addEventListener("change",pick);b.addEventListener("change",pick);
  window.addEventListener("hashchange",show);
  var go=document.getElementById("cmp-go");if(go)go.hidden=true;
  show();
}
})();
"""
