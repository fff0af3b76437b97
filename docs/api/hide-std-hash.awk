# Doxygen input filter: blanks the std::hash specializations of the public
# headers (declared as `struct std::hash<...>` outside namespace std, which
# Doxygen 1.9 cannot place and reports as an internal error). Blank lines keep
# every other line where it was, so warnings name the right line.
function flush() { if (held_template) { print held; held_template = 0 } }
/^template </ { flush(); held = $0; held_template = 1; next }
held_template && /^struct std::hash</ { held_template = 0; print ""; print ""; skipping = 1; next }
skipping { print ""; if ($0 ~ /^};/) skipping = 0; next }
{ flush(); print }
END { flush() }
