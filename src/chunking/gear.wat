;; The content-defined chunking kernel: FastCDC's gear hash with normalised chunking.
;; Memory is shared with the caller: bytes 0..1023 hold the 256 gear values (i32, little-endian),
;; and the bytes to cut lie anywhere above them.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; The end of the chunk that starts at $start, looking no further than $end: the first position past
  ;; $start + $min where the hash has no bit of $hard set (before $start + $avg) or of $easy set (after it),
  ;; else $start + $max, else $end.
  (func (export "cut") (param $start i32) (param $end i32) (param $min i32) (param $avg i32) (param $max i32)
                       (param $hard i32) (param $easy i32) (result i32)
    (local $i i32) (local $limit i32) (local $middle i32) (local $hash i32)
    (local.set $limit (i32.add (local.get $start) (local.get $max)))
    (if (i32.lt_u (local.get $end) (local.get $limit)) (then (local.set $limit (local.get $end))))
    (local.set $i (i32.add (local.get $start) (local.get $min)))
    (if (i32.ge_u (local.get $i) (local.get $limit)) (then (return (local.get $limit))))
    (local.set $middle (i32.add (local.get $start) (local.get $avg)))
    (if (i32.lt_u (local.get $limit) (local.get $middle)) (then (local.set $middle (local.get $limit))))
    (block $hard_done
      (loop $hard_loop
        (br_if $hard_done (i32.ge_u (local.get $i) (local.get $middle)))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
                                  (i32.load (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $hard))) (then (return (local.get $i))))
        (br $hard_loop)))
    (block $easy_done
      (loop $easy_loop
        (br_if $easy_done (i32.ge_u (local.get $i) (local.get $limit)))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
                                  (i32.load (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $easy))) (then (return (local.get $i))))
        (br $easy_loop)))
    (local.get $limit)))
