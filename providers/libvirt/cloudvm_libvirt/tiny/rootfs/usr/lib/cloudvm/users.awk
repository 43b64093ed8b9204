# Print "user NAME" and "key NAME KEY" for each user with ssh_authorized_keys
# in a #cloud-config document's users list.
function unquote(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); if (s ~ /^["'].*["']$/) s = substr(s, 2, length(s) - 2); return s }
function indent(s) { match(s, /^ */); return RLENGTH }
{ sub(/\r$/, "") }
/^users:/ { inusers = 1; next }
inusers && /^[^ #-]/ { inusers = 0 }
!inusers { next }
/^ *- *name: */ { v = $0; sub(/^ *- *name: */, "", v); user = unquote(v); print "user", user; keys = 0; next }
/^ *ssh_authorized_keys: *$/ { keys = 1; kindent = indent($0); next }
keys && /^ *- / && indent($0) >= kindent { v = $0; sub(/^ *- /, "", v); print "key", user, unquote(v); next }
keys && /^ *[a-z_]+:/ { keys = 0 }
