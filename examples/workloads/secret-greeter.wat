;; secret-greeter: the example Elsewhere workload (WASI preview 1 command).
;;
;; Reads a name from stdin, the greeting word from env GREETING (default "Hello") and a
;; secret file from the keep's read-only secrets directory (first preopen, /secrets): the
;; file name is argv[1], default "greeting-key". Prints one line that proves it read the
;; secret without revealing it: its length and FNV-1a-32 checksum.
;;
;;   stdout: "<GREETING>, <name>! I hold secret <file>: <n> bytes, fnv1a32 <8 hex>\n"
;;   exit 0; exit 2 with a line on stderr when the secret cannot be opened (WASI errno shown).
;;
;; Build: `python examples/workloads/build.py` (wasmtime.wat2wasm, no other toolchain).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; Layout: 0 scratch | 1024 argv ptrs | 2048 argv buf | 8192 env ptrs | 10240 env buf
  ;; | 32768 stdin | 36864 secret chunk | 45056 output | 49152 constants
  (memory (export "memory") 1)
  (data (i32.const 49152) "Hello")               ;; 5
  (data (i32.const 49160) ", ")                  ;; 2
  (data (i32.const 49164) "! I hold secret ")    ;; 16
  (data (i32.const 49184) ": ")                  ;; 2
  (data (i32.const 49188) " bytes, fnv1a32 ")    ;; 16
  (data (i32.const 49208) "stranger")            ;; 8
  (data (i32.const 49216) "greeting-key")        ;; 12
  (data (i32.const 49232) "GREETING=")           ;; 9
  (data (i32.const 49248) "0123456789abcdef")    ;; 16
  (data (i32.const 49264) "secret-greeter: cannot open secret ")  ;; 35
  (data (i32.const 49300) " (wasi errno ")       ;; 13
  (data (i32.const 49316) "arguments or environment too large\n")  ;; 35

  (global $pos (mut i32) (i32.const 45056))

  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $out (param $ptr i32) (param $len i32)
    (memory.copy (global.get $pos) (local.get $ptr) (local.get $len))
    (global.set $pos (i32.add (global.get $pos) (local.get $len))))

  (func $out_byte (param $b i32)
    (i32.store8 (global.get $pos) (local.get $b))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1))))

  (func $out_dec (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 10))
      (then (call $out_dec (i32.div_u (local.get $n) (i32.const 10)))))
    (call $out_byte (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10)))))

  (func $out_hex8 (param $n i32) (local $i i32)
    (local.set $i (i32.const 28))
    (loop $next
      (call $out_byte (i32.load8_u (i32.add (i32.const 49248)
        (i32.and (i32.shr_u (local.get $n) (local.get $i)) (i32.const 15)))))
      (local.set $i (i32.sub (local.get $i) (i32.const 4)))
      (br_if $next (i32.ge_s (local.get $i) (i32.const 0)))))

  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $flush (param $fd i32)
    (call $write (local.get $fd) (i32.const 45056) (i32.sub (global.get $pos) (i32.const 45056)))
    (global.set $pos (i32.const 45056)))

  (func $fail (param $name i32) (param $len i32) (param $errno i32)
    (call $out (i32.const 49264) (i32.const 35))
    (call $out (local.get $name) (local.get $len))
    (call $out (i32.const 49300) (i32.const 13))
    (call $out_dec (local.get $errno))
    (call $out_byte (i32.const 41))
    (call $out_byte (i32.const 10))
    (call $flush (i32.const 2))
    (call $proc_exit (i32.const 2)))

  (func (export "_start")
    (local $greet i32) (local $greet_len i32) (local $file i32) (local $file_len i32)
    (local $name_len i32) (local $i i32) (local $entry i32) (local $errno i32)
    (local $fd i32) (local $n i32) (local $total i32) (local $hash i32)

    (local.set $greet (i32.const 49152)) (local.set $greet_len (i32.const 5))
    (local.set $file (i32.const 49216)) (local.set $file_len (i32.const 12))

    ;; argv[1] names the secret file
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (if (i32.or (i32.gt_u (i32.load (i32.const 16)) (i32.const 64))
                (i32.gt_u (i32.load (i32.const 20)) (i32.const 6144)))
      (then (call $write (i32.const 2) (i32.const 49316) (i32.const 35))
            (call $proc_exit (i32.const 2))))
    (drop (call $args_get (i32.const 1024) (i32.const 2048)))
    (if (i32.ge_u (i32.load (i32.const 16)) (i32.const 2))
      (then (local.set $file (i32.load (i32.const 1028)))
            (local.set $file_len (call $strlen (local.get $file)))))
    (if (i32.gt_u (local.get $file_len) (i32.const 1024))
      (then (call $write (i32.const 2) (i32.const 49316) (i32.const 35))
            (call $proc_exit (i32.const 2))))

    ;; GREETING=... from the environment
    (drop (call $environ_sizes_get (i32.const 24) (i32.const 28)))
    (if (i32.or (i32.gt_u (i32.load (i32.const 24)) (i32.const 256))
                (i32.gt_u (i32.load (i32.const 28)) (i32.const 22528)))
      (then (call $write (i32.const 2) (i32.const 49316) (i32.const 35))
            (call $proc_exit (i32.const 2))))
    (drop (call $environ_get (i32.const 8192) (i32.const 10240)))
    (block $found
      (loop $next
        (br_if $found (i32.ge_u (local.get $i) (i32.load (i32.const 24))))
        (local.set $entry (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.and
              (i32.ge_u (call $strlen (local.get $entry)) (i32.const 9))
              (i32.and (i64.eq (i64.load (local.get $entry)) (i64.load (i32.const 49232)))
                       (i32.eq (i32.load8_u (i32.add (local.get $entry) (i32.const 8))) (i32.const 61))))
          (then (local.set $greet (i32.add (local.get $entry) (i32.const 9)))
                (local.set $greet_len (call $strlen (local.get $greet)))
                (if (i32.gt_u (local.get $greet_len) (i32.const 1024))
                  (then (local.set $greet_len (i32.const 1024))))
                (br $found)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))

    ;; stdin: the name, up to 1024 bytes, trailing newline trimmed
    (block $eof
      (loop $more
        (br_if $eof (i32.ge_u (local.get $name_len) (i32.const 1024)))
        (i32.store (i32.const 32) (i32.add (i32.const 32768) (local.get $name_len)))
        (i32.store (i32.const 36) (i32.sub (i32.const 1024) (local.get $name_len)))
        (br_if $eof (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 40)))
        (br_if $eof (i32.eqz (i32.load (i32.const 40))))
        (local.set $name_len (i32.add (local.get $name_len) (i32.load (i32.const 40))))
        (br $more)))
    (block $trimmed
      (loop $trim
        (br_if $trimmed (i32.eqz (local.get $name_len)))
        (local.set $n (i32.load8_u (i32.add (i32.const 32767) (local.get $name_len))))
        (br_if $trimmed (i32.and (i32.ne (local.get $n) (i32.const 10)) (i32.ne (local.get $n) (i32.const 13))))
        (local.set $name_len (i32.sub (local.get $name_len) (i32.const 1)))
        (br $trim)))

    ;; the secret: open relative to fd 3 (the /secrets preopen), read-only right (fd_read)
    (local.set $errno (call $path_open (i32.const 3) (i32.const 0)
      (local.get $file) (local.get $file_len) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)))
    (if (local.get $errno)
      (then (call $fail (local.get $file) (local.get $file_len) (local.get $errno))))
    (local.set $fd (i32.load (i32.const 12)))
    (local.set $hash (i32.const 0x811c9dc5))
    (block $done
      (loop $chunk
        (i32.store (i32.const 32) (i32.const 36864))
        (i32.store (i32.const 36) (i32.const 4096))
        (local.set $errno (call $fd_read (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 40)))
        (if (local.get $errno)
          (then (call $fail (local.get $file) (local.get $file_len) (local.get $errno))))
        (local.set $n (i32.load (i32.const 40)))
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $i (i32.const 0))
        (loop $byte
          (local.set $hash (i32.mul
            (i32.xor (local.get $hash) (i32.load8_u (i32.add (i32.const 36864) (local.get $i))))
            (i32.const 0x01000193)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $byte (i32.lt_u (local.get $i) (local.get $n))))
        (local.set $total (i32.add (local.get $total) (local.get $n)))
        (br $chunk)))
    (drop (call $fd_close (local.get $fd)))

    (call $out (local.get $greet) (local.get $greet_len))
    (call $out (i32.const 49160) (i32.const 2))
    (if (local.get $name_len)
      (then (call $out (i32.const 32768) (local.get $name_len)))
      (else (call $out (i32.const 49208) (i32.const 8))))
    (call $out (i32.const 49164) (i32.const 16))
    (call $out (local.get $file) (local.get $file_len))
    (call $out (i32.const 49184) (i32.const 2))
    (call $out_dec (local.get $total))
    (call $out (i32.const 49188) (i32.const 16))
    (call $out_hex8 (local.get $hash))
    (call $out_byte (i32.const 10))
    (call $flush (i32.const 1))))
