;; cross-border: the commons example analysis (WASI preview 1 command).
;;
;; Reads the datasets the keep decrypted, concatenated on stdin: CSV lines `region,week,cases`
;; (region 0-15, week 0-63; lines with anything but digits and commas, e.g. headers, are
;; skipped). Sums the cases of every agency per (region, week) and prints one declared output
;; per non-empty cell, `r<R>w<W>,<total>,<total>` (key, value, group size). The keep's runtime,
;; not this module, then suppresses small cells and adds noise (elsewhere.commons.rules).
;; Exit 3 when a region or week is out of range.
;;
;; Build: `python examples/commons/build.py` (wasmtime's WAT parser, no other toolchain).
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; Layout: 0 cells (1024 x i32) | 4096 iovec | 4112 nread | 8192 output | 65536 stdin
  (memory (export "memory") 2)
  (global $out (mut i32) (i32.const 8192))

  (func $byte (param $b i32)
    (i32.store8 (global.get $out) (local.get $b))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  (func $dec (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 10))
      (then (call $dec (i32.div_u (local.get $n) (i32.const 10)))))
    (call $byte (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10)))))

  (func $read_all (result i32) (local $end i32)
    (local.set $end (i32.const 65536))
    (block $eof
      (loop $more
        ;; keep 64 KiB free after $end
        (if (i32.gt_u (i32.add (local.get $end) (i32.const 65536))
                      (i32.mul (memory.size) (i32.const 65536)))
          (then (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
            (then (call $proc_exit (i32.const 4))))))
        (i32.store (i32.const 4096) (local.get $end))
        (i32.store (i32.const 4100) (i32.const 65536))
        (if (call $fd_read (i32.const 0) (i32.const 4096) (i32.const 1) (i32.const 4112))
          (then (call $proc_exit (i32.const 5))))
        (br_if $eof (i32.eqz (i32.load (i32.const 4112))))
        (local.set $end (i32.add (local.get $end) (i32.load (i32.const 4112))))
        (br $more)))
    ;; a final newline, so the last line ends like the others
    (i32.store8 (local.get $end) (i32.const 10))
    (i32.add (local.get $end) (i32.const 1)))

  (func $parse (param $end i32)
    (local $p i32) (local $b i32) (local $v i32) (local $f i32) (local $bad i32)
    (local $r i32) (local $w i32) (local $cell i32)
    (local.set $p (i32.const 65536))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $b (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.and (i32.ge_u (local.get $b) (i32.const 48)) (i32.le_u (local.get $b) (i32.const 57)))
          (then
            (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10))
                                   (i32.sub (local.get $b) (i32.const 48))))
            (br $next)))
        (if (i32.eq (local.get $b) (i32.const 44))
          (then
            (if (i32.eqz (local.get $f)) (then (local.set $r (local.get $v))))
            (if (i32.eq (local.get $f) (i32.const 1)) (then (local.set $w (local.get $v))))
            (local.set $f (i32.add (local.get $f) (i32.const 1)))
            (local.set $v (i32.const 0))
            (br $next)))
        (if (i32.eq (local.get $b) (i32.const 13)) (then (br $next)))
        (if (i32.eq (local.get $b) (i32.const 10))
          (then
            (if (i32.and (i32.eqz (local.get $bad)) (i32.eq (local.get $f) (i32.const 2)))
              (then
                (if (i32.or (i32.ge_u (local.get $r) (i32.const 16)) (i32.ge_u (local.get $w) (i32.const 64)))
                  (then (call $proc_exit (i32.const 3))))
                (local.set $cell (i32.shl (i32.add (i32.mul (local.get $r) (i32.const 64)) (local.get $w)) (i32.const 2)))
                (i32.store (local.get $cell) (i32.add (i32.load (local.get $cell)) (local.get $v)))))
            (local.set $f (i32.const 0))
            (local.set $v (i32.const 0))
            (local.set $bad (i32.const 0))
            (br $next)))
        (local.set $bad (i32.const 1))
        (br $next))))

  (func $print (local $i i32) (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 1024)))
        (local.set $c (i32.load (i32.shl (local.get $i) (i32.const 2))))
        (if (local.get $c)
          (then
            (call $byte (i32.const 114))  ;; r
            (call $dec (i32.shr_u (local.get $i) (i32.const 6)))
            (call $byte (i32.const 119))  ;; w
            (call $dec (i32.and (local.get $i) (i32.const 63)))
            (call $byte (i32.const 44))
            (call $dec (local.get $c))
            (call $byte (i32.const 44))
            (call $dec (local.get $c))
            (call $byte (i32.const 10))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 4096) (i32.const 8192))
    (i32.store (i32.const 4100) (i32.sub (global.get $out) (i32.const 8192)))
    (drop (call $fd_write (i32.const 1) (i32.const 4096) (i32.const 1) (i32.const 4112))))

  (func (export "_start")
    (call $parse (call $read_all))
    (call $print)))
