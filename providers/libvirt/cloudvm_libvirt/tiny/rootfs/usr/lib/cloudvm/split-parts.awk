# Split cloud-init user-data into dir/part-N files: a MIME multipart
# document gives one file per part (base64 parts are listed in dir/base64),
# anything else is one part.
{ sub(/\r$/, "") }
NR == 1 && tolower($0) !~ /^(content-type|mime-version):/ { single = 1 }
single { print > (dir "/part-0"); next }
boundary == "" && tolower($0) ~ /boundary=/ {
    b = $0; sub(/.*[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]="?/, "", b); sub(/".*/, "", b); sub(/;.*/, "", b)
    boundary = b; next
}
boundary != "" && ($0 == "--" boundary || $0 == "--" boundary "--") { n++; header = 1; next }
header && $0 == "" { header = 0; next }
header { if (tolower($0) ~ /^content-transfer-encoding: *base64/) print n > (dir "/base64"); next }
n > 0 { print > (dir "/part-" n) }
