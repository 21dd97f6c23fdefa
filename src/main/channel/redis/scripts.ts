/**
 * The Redis registry's steps, each one Lua script so that it is atomic across processes: every
 * check-then-act (id taken, session full, a place taken back, a grace running out) happens inside
 * Redis with nothing in between, and the notifies and relayed frames it causes are appended to the
 * members' inbox streams in the same step, so they are in the session's order, and once.
 *
 * Keys (P is the key prefix):
 *   P s:<sid>           hash   meta → {ch, owner, at}; p:<token> → place {r: d|w, u, n, c, a, hb, hc, o}
 *                                (role, uuid, node, connection, away deadline or 0, held bytes / frames;
 *                                the device's place only: o, the node the session was created on)
 *   P h:<sid>:<token>   list   frames held for an away place
 *   P u:<uuid>          set    sessions the uuid created (maxSessionsPerUuid)
 *   P np:<node>         set    "<sid>\n<token>" of the places held by the node's connections
 *   P away              zset   "<sid>\n<token>" → grace deadline
 *   P nodes             zset   node → last heartbeat (ms)
 *   P in:<node>         stream the node's inbox: fields c (connection), t (place), s (sid), f (frame),
 *                                e (present when the place ended with its session: the node forgets it);
 *                                or ended (sid), t (the device's place): a session created there ended
 *   P held              string bytes held in all
 *   P epoch             string the store's epoch: gone after Redis lost its data
 */

/** ARGV[1] prefix, ARGV[2] now (ms), ARGV[3] node timeout (ms), ARGV[4] inbox length cap. */
const COMMON = `
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local NODE_TIMEOUT = tonumber(ARGV[3])
local INBOX_MAX = ARGV[4]
local function skey(sid) return P .. 's:' .. sid end
local function hkey(sid, tok) return P .. 'h:' .. sid .. ':' .. tok end
local function member(sid, tok) return sid .. '\\n' .. tok end
local function json(s) return (string.gsub(cjson.encode(s), '\\\\/', '/')) end
local function load(sid)
  local all = redis.call('HGETALL', skey(sid))
  if #all == 0 then return nil end
  local meta, ps = nil, {}
  for i = 1, #all, 2 do
    if all[i] == 'meta' then meta = cjson.decode(all[i + 1])
    else ps[string.sub(all[i], 3)] = cjson.decode(all[i + 1]) end
  end
  return meta, ps
end
local function save(sid, tok, p) redis.call('HSET', skey(sid), 'p:' .. tok, cjson.encode(p)) end
local function alive(node)
  local hb = redis.call('ZSCORE', P .. 'nodes', node)
  return hb and (NOW - tonumber(hb)) < NODE_TIMEOUT
end
local function present(p) return p.a == 0 and alive(p.n) end
local function send(p, tok, sid, frame, ends)
  local key = P .. 'in:' .. p.n
  if ends then
    redis.call('XADD', key, 'MAXLEN', '~', INBOX_MAX, '*', 'c', p.c, 't', tok, 's', sid, 'f', frame, 'e', '1')
  else
    redis.call('XADD', key, 'MAXLEN', '~', INBOX_MAX, '*', 'c', p.c, 't', tok, 's', sid, 'f', frame)
  end
end
local function notifyFrame(op, sid, ch)
  return '{"msgtype":"notify","operation":"' .. op .. '","sessionid":' .. json(sid) .. ',"channeltype":' .. json(ch) .. '}'
end
-- Keeps a frame for an away place; false when its share is full (its grace must end).
local function hold(sid, tok, p, frame, caps)
  local size = string.len(frame)
  local total = tonumber(redis.call('GET', P .. 'held') or '0')
  if p.hc >= caps.frames or p.hb + size > caps.bytes or total + size > caps.total then return false end
  redis.call('RPUSH', hkey(sid, tok), frame)
  p.hb = p.hb + size
  p.hc = p.hc + 1
  save(sid, tok, p)
  redis.call('INCRBY', P .. 'held', size)
  return true
end
local function forgetHeld(sid, tok, p)
  redis.call('DEL', hkey(sid, tok))
  if p.hb and p.hb > 0 then redis.call('DECRBY', P .. 'held', p.hb) end
  p.hb = 0
  p.hc = 0
end
-- Every end of a session comes here: the node it was created on is told (its presence announced
-- the start), unless that node is reaped (its inbox is gone, and its operators with it).
local function dropSession(sid, meta, ps)
  for tok, p in pairs(ps) do
    if p.o and redis.call('ZSCORE', P .. 'nodes', p.o) then
      redis.call('XADD', P .. 'in:' .. p.o, 'MAXLEN', '~', INBOX_MAX, '*', 'ended', sid, 't', tok)
    end
    forgetHeld(sid, tok, p)
    redis.call('ZREM', P .. 'away', member(sid, tok))
    redis.call('SREM', P .. 'np:' .. p.n, member(sid, tok))
  end
  redis.call('DEL', skey(sid))
  redis.call('SREM', P .. 'u:' .. meta.owner, sid)
end
-- The session ends: its present members other than except are told destroy_session, in entries
-- marked e so that their nodes forget the place at once (not at its next frame); then it is dropped.
local function endSession(sid, meta, ps, except)
  local frame = notifyFrame('destroy_session', sid, meta.ch)
  for tok, p in pairs(ps) do
    if tok ~= except and present(p) then send(p, tok, sid, frame, true) end
  end
  dropSession(sid, meta, ps)
end
-- Writes a frame to every other place: present ones get it in their inbox, away ones hold it.
-- Returns the tokens whose grace must end because their share is full.
local function fanOut(sid, ps, except, frame, caps)
  local full = {}
  for tok, p in pairs(ps) do
    if tok ~= except then
      if present(p) then send(p, tok, sid, frame)
      elseif caps and not hold(sid, tok, p, frame, caps) then table.insert(full, tok) end
    end
  end
  return full
end
-- A place is given up (closed, cut off, grace over): the device's ends the session
-- (destroy_session to the others), a web client's leaves it (leave_session to the others).
local function endPlace(sid, meta, ps, tok)
  local p = ps[tok]
  if p.r == 'd' then
    endSession(sid, meta, ps, tok)
    return 'destroyed'
  end
  forgetHeld(sid, tok, p)
  redis.call('HDEL', skey(sid), 'p:' .. tok)
  redis.call('ZREM', P .. 'away', member(sid, tok))
  redis.call('SREM', P .. 'np:' .. p.n, member(sid, tok))
  ps[tok] = nil
  fanOut(sid, ps, nil, notifyFrame('leave_session', sid, meta.ch), nil)
  return 'left'
end
local function endFull(sid, meta, ps, full)
  for _, tok in ipairs(full) do
    if redis.call('EXISTS', skey(sid)) == 0 then return end
    if ps[tok] then endPlace(sid, meta, ps, tok) end
  end
end
-- Gives a place to (node, conn): what was held for it comes back, oldest first.
local function seat(sid, tok, p, node, conn)
  redis.call('SREM', P .. 'np:' .. p.n, member(sid, tok))
  redis.call('ZREM', P .. 'away', member(sid, tok))
  local held = redis.call('LRANGE', hkey(sid, tok), 0, -1)
  forgetHeld(sid, tok, p)
  p.n = node
  p.c = conn
  p.a = 0
  save(sid, tok, p)
  redis.call('SADD', P .. 'np:' .. node, member(sid, tok))
  return held
end
local function owns(p, node, conn) return p.a == 0 and p.n == node and p.c == conn end
local function reply(status, tok, meta, held)
  local out = { status, tok or '', meta and meta.ch or '', meta and meta.owner or '' }
  if held then for _, f in ipairs(held) do table.insert(out, f) end end
  return out
end
`

/** ARGV[5..]: sid, uuid, channeltype, new token, node, conn, presented token, max per uuid, ttl. */
export const CREATE = `${COMMON}
local sid, uuid, ch, newTok, node, conn, presented = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local maxPerUuid, ttl = tonumber(ARGV[12]), tonumber(ARGV[13])
local meta, ps = load(sid)
if not meta then
  if redis.call('SCARD', P .. 'u:' .. uuid) >= maxPerUuid then return reply('limit') end
  meta = { ch = ch, owner = uuid, at = NOW }
  redis.call('HSET', skey(sid), 'meta', cjson.encode(meta))
  save(sid, newTok, { r = 'd', u = uuid, n = node, c = conn, a = 0, hb = 0, hc = 0, o = node })
  redis.call('SADD', P .. 'u:' .. uuid, sid)
  redis.call('PEXPIRE', P .. 'u:' .. uuid, ttl)
  redis.call('SADD', P .. 'np:' .. node, member(sid, newTok))
  redis.call('PEXPIRE', skey(sid), ttl)
  return reply('created', newTok, meta)
end
if meta.owner ~= uuid then return reply('taken') end
for tok, p in pairs(ps) do
  if p.r == 'd' then
    if owns(p, node, conn) then return reply('already', tok, meta) end
    -- Its slot held since its connection was lost (or its process died), or its live place
    -- with the place's token: the device takes it back; a uuid alone never displaces a live one.
    if not present(p) or presented == tok then
      return reply('resumed', tok, meta, seat(sid, tok, p, node, conn))
    end
    return reply('live')
  end
end
return reply('live')
`

/** ARGV[5..]: sid, uuid, new token, node, conn, presented token, max joiners, ttl. */
export const JOIN = `${COMMON}
local sid, uuid, newTok, node, conn, presented = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local maxJoiners, ttl = tonumber(ARGV[11]), tonumber(ARGV[12])
local meta, ps = load(sid)
if not meta then return reply('notfound') end
local joiners = 0
for tok, p in pairs(ps) do
  if owns(p, node, conn) then return reply('already', tok, meta) end
  if p.r == 'w' then joiners = joiners + 1 end
end
-- A web client's place comes back to the same client: by its token, or (a place whose
-- connection was lost) by its uuid. The device's place is never a joiner's.
local function find(match)
  for tok, p in pairs(ps) do if p.r == 'w' and match(tok, p) then return tok, p end end
end
local tok, p = find(function(t, q) return not present(q) and t == presented end)
if not tok then tok, p = find(function(t, q) return not present(q) and q.u == uuid end) end
if not tok then tok, p = find(function(t, q) return t == presented end) end
if tok then return reply('resumed', tok, meta, seat(sid, tok, p, node, conn)) end
if joiners >= maxJoiners then return reply('full') end
save(sid, newTok, { r = 'w', u = uuid, n = node, c = conn, a = 0, hb = 0, hc = 0 })
redis.call('SADD', P .. 'np:' .. node, member(sid, newTok))
redis.call('PEXPIRE', skey(sid), ttl)
fanOut(sid, ps, nil, notifyFrame('join_session', sid, meta.ch), nil)
return reply('joined', newTok, meta)
`

/** ARGV[5..]: sid, node, conn. */
export const DESTROY = `${COMMON}
local sid, node, conn = ARGV[5], ARGV[6], ARGV[7]
local meta, ps = load(sid)
if not meta then return reply('notfound') end
for tok, p in pairs(ps) do
  if owns(p, node, conn) then
    endSession(sid, meta, ps, tok)
    return reply('destroyed', tok, meta)
  end
end
return reply('forbidden')
`

/** ARGV[5..]: sid, node, conn, frame, held frames cap, held bytes cap, held total cap, ttl. */
export const RELAY = `${COMMON}
local sid, node, conn, frame = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local caps = { frames = tonumber(ARGV[9]), bytes = tonumber(ARGV[10]), total = tonumber(ARGV[11]) }
local meta, ps = load(sid)
if not meta then return reply('notmember') end
for tok, p in pairs(ps) do
  if owns(p, node, conn) then
    local full = fanOut(sid, ps, tok, frame, caps)
    endFull(sid, meta, ps, full)
    return reply('relayed', tok, meta)
  end
end
return reply('notmember')
`

/** ARGV[5..]: sid, token, node, conn, lost (1/0), grace deadline. */
export const LEAVE = `${COMMON}
local sid, tok, node, conn, lost, deadline = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10])
local meta, ps = load(sid)
if not meta then return reply('gone') end
local p = ps[tok]
if not p or not owns(p, node, conn) then return reply('stale') end
if lost == '1' then
  p.a = deadline
  save(sid, tok, p)
  redis.call('ZADD', P .. 'away', deadline, member(sid, tok))
  return reply('parked', tok, meta)
end
return reply(endPlace(sid, meta, ps, tok), tok, meta)
`

/** ARGV[5..]: "<sid>\\n<token>". The grace of an away place has run out. */
export const EXPIRE = `${COMMON}
local m = ARGV[5]
local cut = string.find(m, '\\n', 1, true)
local sid, tok = string.sub(m, 1, cut - 1), string.sub(m, cut + 1)
local meta, ps = load(sid)
local p = ps and ps[tok]
if not p or p.a == 0 then
  redis.call('ZREM', P .. 'away', m)
  return reply('gone')
end
if p.a > NOW then return reply('waiting') end
return reply(endPlace(sid, meta, ps, tok), tok, meta)
`

/** ARGV[5..]: sid, token, frame, caps (3). A frame for a connection that is gone meanwhile. */
export const HOLD = `${COMMON}
local sid, tok, frame = ARGV[5], ARGV[6], ARGV[7]
local caps = { frames = tonumber(ARGV[8]), bytes = tonumber(ARGV[9]), total = tonumber(ARGV[10]) }
local meta, ps = load(sid)
local p = ps and ps[tok]
if not p or p.a == 0 then return reply('dropped') end
if hold(sid, tok, p, frame, caps) then return reply('held') end
return reply(endPlace(sid, meta, ps, tok), tok, meta)
`

/** ARGV[5..]: the node that stopped heart-beating, grace (ms). Its places become away. */
export const REAP = `${COMMON}
local dead, grace = ARGV[5], tonumber(ARGV[6])
local hb = redis.call('ZSCORE', P .. 'nodes', dead)
if not hb or NOW - tonumber(hb) < NODE_TIMEOUT then return 0 end
redis.call('ZREM', P .. 'nodes', dead)
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', P .. 'np:' .. dead)) do
  local cut = string.find(m, '\\n', 1, true)
  local sid, tok = string.sub(m, 1, cut - 1), string.sub(m, cut + 1)
  local meta, ps = load(sid)
  local p = ps and ps[tok]
  if p and p.n == dead and p.a == 0 then
    -- Lost when its process last gave a sign of life: the grace counts from then.
    p.a = tonumber(hb) + grace
    save(sid, tok, p)
    redis.call('ZADD', P .. 'away', p.a, m)
    n = n + 1
  end
end
redis.call('DEL', P .. 'np:' .. dead, P .. 'in:' .. dead)
return n
`

/**
 * ARGV[5..]: sid, token, role, uuid, owner uuid, channeltype, node, conn, ttl, rebuilding (1/0),
 * origin (the node the session was created on, when it is this one; else empty).
 * After Redis lost its data (a new epoch, rebuilding), each process writes back the places its
 * connections hold; after a gap in its heartbeat, a process takes back the places still its own.
 */
export const RESTORE = `${COMMON}
local sid, tok, role, uuid, owner, ch, node, conn, ttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], tonumber(ARGV[13])
local rebuilding, origin = ARGV[14] == '1', ARGV[15]
if not rebuilding and redis.call('HEXISTS', skey(sid), 'meta') == 1 then
  -- The store kept its data (this process was only cut off): the place comes back unless it
  -- ended meanwhile or another connection took it.
  local old = redis.call('HGET', skey(sid), 'p:' .. tok)
  if not old then return reply('gone') end
  local p = cjson.decode(old)
  if p.n ~= node or p.c ~= conn then return reply('gone') end
  local held = seat(sid, tok, p, node, conn)
  redis.call('PEXPIRE', skey(sid), ttl)
  return reply('kept', tok, nil, held)
end
if not rebuilding then return reply('gone') end
-- Redis lost its data: every process writes back what its connections hold.
if redis.call('HEXISTS', skey(sid), 'meta') == 0 then
  redis.call('HSET', skey(sid), 'meta', cjson.encode({ ch = ch, owner = owner, at = NOW }))
end
local p = { r = role, u = uuid, n = node, c = conn, a = 0, hb = 0, hc = 0 }
if origin ~= '' then p.o = origin end
save(sid, tok, p)
redis.call('SADD', P .. 'np:' .. node, member(sid, tok))
if role == 'd' then redis.call('SADD', P .. 'u:' .. owner, sid) end
redis.call('PEXPIRE', skey(sid), ttl)
return reply('restored', tok)
`
