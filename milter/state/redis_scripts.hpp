// The Lua scripts of the Redis store: the writes that must be atomic
// across hosts. KEYS[1] is always the Redis key (`portcullis:` + key);
// times are milliseconds of the caller's clock, passed as decimal text.
// An entry that is not a hash with exactly the fields v and e (an integer)
// is answered with an error reply starting "CORRUPT", naming the key.
//
// No script carries flags (#!lua), so that Redis before 7.0 runs them.
// Redis 7.0 then lets them write past maxmemory (the tests' server does);
// older servers refuse a script's first write with OOM (Outcome::full)
// and, once it has written, let it finish, so none stops halfway.
#pragma once

#include <string>
#include <vector>

namespace portcullis::state::redis {

// Their order in scripts(), in the pool's SCRIPT LOAD, and so in
// Connection::script_sha.
enum Script : unsigned { put_index, put_if_absent_index, count_event_index };

inline const std::vector<std::string> &scripts() {
    static const std::string read_entry = R"lua(
local function read_entry(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return nil, nil, nil end
  if kind ~= 'hash' then
    return nil, nil, 'CORRUPT ' .. key .. ' holds a ' .. kind .. ', not an entry'
  end
  local fields = redis.call('HGETALL', key)
  local v, e
  if #fields == 4 then
    for i = 1, 3, 2 do
      if fields[i] == 'v' then v = fields[i + 1] elseif fields[i] == 'e' then e = fields[i + 1] end
    end
  end
  if not v or not e or #e > 16 or not string.match(e, '^%-?%d+$') then
    return nil, nil, 'CORRUPT ' .. key .. ' does not hold the fields v and e of an entry'
  end
  return v, e, nil
end
)lua";

    // ARGV: value, expires, ttl. Replaces whatever the key held.
    static const std::string put = R"lua(
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
)lua";

    // ARGV: value, expires, now, ttl. Answers {value, expires} of a live
    // entry and leaves it; else stores the new one (unless it is expired
    // already) and answers an empty array.
    static const std::string put_if_absent = read_entry + R"lua(
local v, e, corrupt = read_entry(KEYS[1])
if corrupt then return redis.error_reply(corrupt) end
if v and tonumber(e) > tonumber(ARGV[3]) then return {v, e} end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return {}
)lua";

    // ARGV: now, window, expires (now + keep), ttl, count ("1" or "0"), the
    // most events kept. Answers how many events lie in (now - window, ...):
    // an event exactly `window` old is gone, as in the LMDB store.
    // Writes only when counting; events stay sorted, the oldest dropped
    // first, and an event from a host whose clock lags does not shorten
    // the entry.
    static const std::string count_event = read_entry + R"lua(
local v, e, corrupt = read_entry(KEYS[1])
if corrupt then return redis.error_reply(corrupt) end
local now = tonumber(ARGV[1])
local oldest_kept = now - tonumber(ARGV[2])
local events = {}
if v and tonumber(e) > now and v ~= '' then
  for item in string.gmatch(v .. ',', '([^,]*),') do
    if #item > 16 or not string.match(item, '^%-?%d+$') then
      return redis.error_reply('CORRUPT ' .. KEYS[1] .. ' does not hold event times')
    end
    if tonumber(item) > oldest_kept then events[#events + 1] = item end
  end
end
if ARGV[5] == '1' then
  local at = #events
  while at > 0 and tonumber(events[at]) > now do at = at - 1 end
  table.insert(events, at + 1, ARGV[1])
  local most = tonumber(ARGV[6])
  if #events > most then
    local kept = {}
    for i = #events - most + 1, #events do kept[#kept + 1] = events[i] end
    events = kept
  end
  local expires, ttl = ARGV[3], tonumber(ARGV[4])
  if v and tonumber(e) > tonumber(expires) then
    ttl = ttl + tonumber(e) - tonumber(expires)
    expires = e
  end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', table.concat(events, ','), 'e', expires)
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
return #events
)lua";

    static const std::vector<std::string> all = {put, put_if_absent, count_event};
    return all;
}

} // namespace portcullis::state::redis
