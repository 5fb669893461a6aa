#!/bin/sh
# The runtime-tools tests inside the VM tier (pure cgroup v2), run by integration/vm/stage2.sh as
# /vm/tests.sh. integration/conformance/runtime-tools.sh fills /vm/payload:
#   bin/runtime   the runtime under test (static, or with its libraries next to it)
#   bin/tar       `busybox tar -z`: the .t programs run `tar -xf rootfs-amd64.tar.gz`, and busybox
#                 tar only reads gzip when told (-z)
#   suite/        runtimetest, rootfs-amd64.tar.gz, validation/<test>/<test>.t for the tests below
#   tests         the test names, one per line
#   rt-run.sh     the same per-test runner as on the host
#   timeout       seconds per test
# Prints the runner's RT-RESULT lines, then each non-passing test's TAP between RT-LOG-BEGIN
# and RT-LOG-END lines, and "VM-RESULT: N passed, M failed".
P=/vm/payload
export PATH=$P/bin:/bin:/sbin:/usr/bin:/usr/sbin
export TMPDIR=/tmp
# A private state root, like the host run's wrapper.
cat > /tmp/rt-runtime <<EOF
#!/bin/sh
exec $P/bin/runtime --root /run/rt-state "\$@"
EOF
chmod +x /tmp/rt-runtime
sh $P/rt-run.sh $P/suite /tmp/rt-runtime /tmp/rt-logs "$(cat $P/timeout)" $(cat $P/tests) > /tmp/rt-results
cat /tmp/rt-results
pass=$(grep -c ' PASS ' /tmp/rt-results)
fail=$(grep -vc ' PASS ' /tmp/rt-results)
for t in $(grep -v ' PASS ' /tmp/rt-results | cut -d' ' -f2); do
    echo "RT-LOG-BEGIN $t"
    cat /tmp/rt-logs/$t.log
    echo "RT-LOG-END $t"
done
echo "VM-RESULT: $pass passed, $fail failed"
