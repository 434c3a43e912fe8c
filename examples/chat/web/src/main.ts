// The chat page: sign in, pick a room, chat. No framework: a few sections of
// index.html shown one at a time.

import './style.css';
import { Session, restoreSession, saveSession, signIn } from './auth';
import { ChatConfig, loadConfig } from './config';
import { ChatMessage, PublishDeniedError, Room, RoomStatus } from './room';

const roomPattern = /^[A-Za-z0-9_-]{1,64}$/;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
}

function show(id: 'signin' | 'rooms' | 'chat'): void {
  for (const s of ['signin', 'rooms', 'chat']) el(s).hidden = s !== id;
}

function setText(id: string, text: string): void {
  const e = el(id);
  e.textContent = text;
  e.hidden = text === '';
}

let cfg: ChatConfig;
let session: Session | null = null;
let room: Room | null = null;

function modeLabel(c: ChatConfig): string {
  switch (c.mode) {
    case 'local':
      return 'offline: local Momento emulator';
    case 'standalone':
      return 'standalone token vending machine';
    default:
      return 'Momento';
  }
}

function isReadOnly(s: Session): boolean {
  return s.groups.includes(cfg.groups.readOnly) && !s.groups.includes(cfg.groups.readWrite);
}

function renderUser(): void {
  const u = el('user');
  if (!session) {
    u.textContent = '';
    el('signout').hidden = true;
    return;
  }
  u.textContent = `${session.username} (${session.groups.join(', ') || 'no group'})`;
  u.dataset.username = session.username;
  el('signout').hidden = false;
}

function showSignIn(): void {
  renderUser();
  show('signin');
  if (cfg.auth.type === 'demo' && cfg.auth.users?.length) {
    el('demo-users').hidden = false;
    el('demo-password').textContent = cfg.auth.password ?? '';
    const list = el('demo-user-list');
    list.replaceChildren(
      ...cfg.auth.users.map(u => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'linklike';
        b.textContent = u.username;
        b.addEventListener('click', () => {
          el<HTMLInputElement>('username').value = u.username;
          if (cfg.auth.type === 'demo') el<HTMLInputElement>('password').value = cfg.auth.password ?? '';
        });
        li.append(b, document.createTextNode(` — ${u.groups.join(', ')}`));
        return li;
      }),
    );
  }
  el<HTMLInputElement>('username').focus();
}

function showRooms(): void {
  renderUser();
  show('rooms');
  const sugg = el('room-suggestions');
  sugg.replaceChildren(
    ...cfg.rooms.map(r => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'linklike';
      b.textContent = r;
      b.addEventListener('click', () => void joinRoom(r));
      return b;
    }),
  );
}

function renderStatus(s: RoomStatus): void {
  const st = el('status');
  st.dataset.state = s.state;
  st.dataset.refreshes = String(s.refreshes);
  st.dataset.reconnects = String(s.reconnects);
  st.dataset.duplicates = String(s.duplicatesDropped);
  st.dataset.expiresAt = String(s.tokenExpiresAt);
  const left = s.tokenExpiresAt ? Math.max(0, Math.round(s.tokenExpiresAt - Date.now() / 1000)) : 0;
  st.textContent =
    `${s.state} · token expires in ${left} s · refreshed ${s.refreshes}× · reconnected ${s.reconnects}× · ` +
    `last sequence ${s.lastSeq} · duplicates dropped ${s.duplicatesDropped}`;
}

function appendMessage(m: ChatMessage): void {
  const list = el('messages');
  const li = document.createElement('li');
  li.dataset.seq = String(m.seq);
  li.dataset.sender = m.sender;
  li.dataset.kind = m.kind;
  if (session && m.sender === session.username) li.classList.add('self');
  const seq = document.createElement('span');
  seq.className = 'seq';
  seq.textContent = `#${m.seq}`;
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = m.sender;
  const text = document.createElement('span');
  text.className = 'text';
  if (m.kind === 'join') {
    li.classList.add('join');
    text.textContent = 'joined the room';
  } else {
    text.textContent = m.text;
  }
  li.append(seq, sender, text);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function joinRoom(name: string): Promise<void> {
  if (!session) return showSignIn();
  if (!roomPattern.test(name)) {
    setText('fatal', 'Room names are 1 to 64 letters, digits, "-" or "_".');
    return;
  }
  setText('fatal', '');
  leaveRoom();
  show('chat');
  el('room-title').textContent = `# ${name}`;
  el('messages').replaceChildren();
  setText('send-error', '');
  setText('problem', '');
  const ro = isReadOnly(session);
  setText(
    'readonly-notice',
    ro ? `You are in ${cfg.groups.readOnly}: you can read this room but you cannot send. Momento will refuse your messages.` : '',
  );
  history.replaceState(null, '', `#room=${encodeURIComponent(name)}`);
  const r = new Room(cfg, () => session?.idToken ?? '', name, {
    onMessage: appendMessage,
    onStatus: renderStatus,
    onProblem: (text, fatal) => setText(fatal ? 'send-error' : 'problem', text),
    onRecovered: () => setText('problem', ''),
    onSignedOut: () => signOut(),
  });
  room = r;
  try {
    await r.start();
  } catch (e) {
    setText('send-error', String(e));
    return;
  }
  if (!ro && room === r && el('status').dataset.state === 'live') {
    r.announceJoin().catch(() => undefined);
  }
  el<HTMLInputElement>('message').focus();
}

function leaveRoom(): void {
  room?.stop();
  room = null;
}

function signOut(): void {
  leaveRoom();
  session = null;
  saveSession(null);
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

async function onSend(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const input = el<HTMLInputElement>('message');
  const text = input.value.trim();
  if (!text || !room) return;
  setText('send-error', '');
  try {
    await room.send(text);
    input.value = '';
  } catch (e) {
    if (e instanceof PublishDeniedError) {
      setText('send-error', `Not sent. ${e.message}`);
      el('send-error').dataset.denied = 'true';
    } else {
      setText('send-error', `Not sent: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

async function main(): Promise<void> {
  try {
    cfg = await loadConfig();
  } catch (e) {
    setText('fatal', `Cannot load the configuration: ${String(e)}`);
    return;
  }
  const mode = el('mode');
  mode.textContent = modeLabel(cfg);
  mode.classList.add(cfg.mode);

  el('signin-form').addEventListener('submit', ev => {
    ev.preventDefault();
    setText('signin-error', '');
    const u = el<HTMLInputElement>('username').value.trim();
    const p = el<HTMLInputElement>('password').value;
    signIn(cfg.auth, u, p).then(
      s => {
        session = s;
        saveSession(s);
        showRooms();
      },
      e => setText('signin-error', e instanceof Error ? e.message : String(e)),
    );
  });
  el('room-form').addEventListener('submit', ev => {
    ev.preventDefault();
    void joinRoom(el<HTMLInputElement>('room').value.trim());
  });
  el('send-form').addEventListener('submit', ev => void onSend(ev as SubmitEvent));
  el('signout').addEventListener('click', signOut);
  el('leave').addEventListener('click', () => {
    leaveRoom();
    history.replaceState(null, '', location.pathname);
    showRooms();
  });
  setInterval(() => {
    const st = el('status');
    if (!el('chat').hidden && st.dataset.expiresAt) {
      const left = Math.max(0, Math.round(Number(st.dataset.expiresAt) - Date.now() / 1000));
      st.textContent = (st.textContent ?? '').replace(/expires in \d+ s/, `expires in ${left} s`);
    }
  }, 1000);

  session = restoreSession();
  if (!session) return showSignIn();
  const m = /^#room=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (m) return joinRoom(m[1]);
  showRooms();
}

void main();
