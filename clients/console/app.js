// The console's entry point: finds out who the certificate is, draws the
// navigation for that role and shows the page named by the address's hash
// (#/queue, #/case/<number>, ...). Each page is a function that fills <main>
// and returns what stops it (its timers and long polls) when another page
// comes. Clocks on every page tick once a second.

import { get } from './api.js';
import { label } from './labels.js';
import { me, whoami } from './session.js';
import { fill, h, tick } from './ui.js';
import { callPage } from './call.js';
import { casesPage } from './cases.js';
import { queuePage, recordsPage, supervisionPage } from './queue.js';
import { casePage } from './case.js';
import { accessPage } from './access.js';

const TICK_MS = 1000;

// The pages in the navigation, the roles that see them, and their drawers.
const PAGES = [
  { path: 'call', title: '来电登记', roles: ['operator'], draw: callPage },
  { path: 'cases', title: '案件', roles: ['operator', 'admin'], draw: casesPage },
  { path: 'queue', title: '待办队列', roles: ['agency'], draw: queuePage },
  { path: 'supervision', title: '监督', roles: ['agency'], only: () => me.procuratorate,
    draw: supervisionPage },
  { path: 'records', title: '监督记录', roles: ['agency'], only: () => me.procuratorate,
    draw: recordsPage },
  { path: 'access', title: '查阅申请', roles: ['agency', 'admin'], draw: accessPage },
];

const main = document.getElementById('main');
let stopPage = null;

// The pages this client may use.
function myPages() {
  return PAGES.filter((p) => p.roles.includes(me.role) && (!p.only || p.only()));
}

// Draw the navigation, marking the current page.
function drawNav(current) {
  const nav = document.getElementById('nav');
  fill(nav, h('ul', null, myPages().map((p) => h('li', null,
    h('a', { href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : null },
      p.title)))));
}

// Show the page the hash names (or the role's first page).
function route() {
  const [, name = '', ...rest] = location.hash.split('/');
  const pages = myPages();
  let page = pages.find((p) => p.path === name);
  let arg = null;
  if (name === 'case' && rest.length > 0) {
    page = { path: 'case', draw: casePage };
    arg = decodeURIComponent(rest.join('/'));
  }
  if (!page) {
    if (pages.length > 0) location.replace(`#/${pages[0].path}`);
    return;
  }
  if (stopPage) stopPage();
  stopPage = null;
  drawNav(page.path);
  main.replaceChildren();
  stopPage = page.draw(main, arg) || null;
  const heading = main.querySelector('h1');
  document.title = `${heading ? heading.textContent + ' · ' : ''}12355 未成年人保护工作台`;
  if (document.activeElement && document.activeElement !== document.body &&
    !main.contains(document.activeElement)) {
    main.focus({ preventScroll: true });
  }
}

// Say who is signed in.
function drawWho() {
  fill(document.getElementById('who'), label('clientRole', me.role),
    me.agency ? `：${me.agency}` : '', me.procuratorate ? '（检察监督）' : '');
}

// Say which daemon answers (its release and schema).
async function drawVersion() {
  try {
    const v = await get('/v1/version');
    fill(document.getElementById('version'), `hotlined ${v.release} · 数据库 ${v.schema}`);
  } catch (e) {
    // the footer stays empty; the pages say what failed
  }
}

// Start: who am I, then the page; a refused certificate is said plainly.
async function start() {
  try {
    await whoami();
  } catch (e) {
    fill(main, h('h1', { tabindex: '-1' }, '无法进入工作台'),
      h('p', { class: 'status status-error', role: 'alert' },
        e.text ? `${e.text}（${e.code}）` : String(e)),
      h('p', null, '请确认浏览器已导入本席位的客户端证书，并已在系统中登记。'));
    return;
  }
  drawWho();
  drawVersion();
  window.addEventListener('hashchange', route);
  window.addEventListener('console:agency', drawWho);
  route();
  setInterval(() => tick(main), TICK_MS);
}

start();
