// The /v1/ API from the browser: same origin, the browser's client
// certificate is the identity (mutual TLS), JSON both ways. A POST carries
// one Idempotency-Key for all its tries, so a retry after a lost answer is
// always safe; failures come back as ApiError with the daemon's code and
// field.

import { ERRORS } from './labels.js';

const RETRY_TRIES = 4;          // tries of a POST before giving up
const RETRY_FIRST_MS = 500;     // first pause between tries, then doubled
const RETRY_MAX_MS = 8000;

// An answer other than 2xx, or no answer at all (status 0, code "network").
export class ApiError extends Error {
  constructor(status, code, field, message, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.retryAfter = retryAfter || 0;
  }

  // Whether the same request may simply be tried again.
  get retryable() {
    return this.status === 0 || this.status === 502 || this.status === 503 ||
      this.status === 504 || this.code === 'idempotency_in_flight';
  }

  // The message for people: the meaning of the code in Chinese.
  get text() {
    return ERRORS[this.code] || this.message;
  }
}

// A fresh Idempotency-Key.
export function newKey() {
  return crypto.randomUUID();
}

// Read an answer: its JSON on 2xx, else throw its ApiError; a read cut
// short by its signal throws the AbortError (a page that went away).
async function answer(res) {
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    body = null;
  }
  if (res.ok) return body;
  const err = body && body.error ? body.error : {};
  throw new ApiError(res.status, err.code || 'http_' + res.status, err.field,
    err.message || res.statusText, parseInt(res.headers.get('Retry-After') || '0', 10));
}

// One request; a network failure becomes ApiError(0, "network").
async function request(method, path, body, key, signal) {
  const headers = { Accept: 'application/json' };
  if (key) headers['Idempotency-Key'] = key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'same-origin',
      redirect: 'error', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', null, String(e.message || e));
  }
  return answer(res);
}

// GET a path of the API.
export function get(path, { signal } = {}) {
  return request('GET', path, undefined, null, signal);
}

// Wait ms milliseconds, or until the signal aborts.
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new DOMException('aborted', 'AbortError'));
      }, { once: true });
    }
  });
}

// POST under one Idempotency-Key, retried while the outcome is unknown or
// the daemon is busy (never sooner than its Retry-After); onRetry(err, n) is
// told before each new try. The answer may be a replay of the first.
export async function post(path, body, key, { onRetry, signal } = {}) {
  let pause = RETRY_FIRST_MS;
  for (let n = 1; ; n++) {
    try {
      return await request('POST', path, body, key, signal);
    } catch (e) {
      if (!(e instanceof ApiError) || !e.retryable || n >= RETRY_TRIES) throw e;
      if (onRetry) onRetry(e, n);
      const wait = Math.max(pause / 2 + Math.random() * pause / 2, e.retryAfter * 1000);
      await sleep(wait, signal);
      pause = Math.min(pause * 2, RETRY_MAX_MS);
    }
  }
}

// A case number or id made safe for a path.
export function seg(s) {
  return encodeURIComponent(String(s));
}
