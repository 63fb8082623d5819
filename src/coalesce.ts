/** A question waiting for the next answering. */
interface Waiting<Q, A> {
  question: Q
  answer: (answer: A) => void
  fail: (err: unknown) => void
}

/**
 * Answers questions in groups: the questions asked while one group is answered, or waits its turn, are
 * answered together by the next, with one call of `answerAll` (one database lookup for many concurrent
 * callers instead of one each). A group is taken when its turn comes, so no question is answered by work
 * that began before it was asked. `schedule` runs each group's turn, in order.
 */
export class Coalescer<Q, A> {
  readonly #answerAll: (questions: readonly Q[]) => Promise<A[]>
  readonly #schedule: (turn: () => Promise<void>) => void
  #waiting: Array<Waiting<Q, A>> = []

  constructor (answerAll: (questions: readonly Q[]) => Promise<A[]>, schedule: (turn: () => Promise<void>) => void) {
    this.#answerAll = answerAll
    this.#schedule = schedule
  }

  /** The answer to one question, from the next group's answering. */
  async ask (question: Q): Promise<A> {
    const answered = new Promise<A>((resolve, reject) => { this.#waiting.push({ question, answer: resolve, fail: reject }) })
    if (this.#waiting.length === 1) this.#schedule(async () => { await this.#answerWaiting() })
    return await answered
  }

  async #answerWaiting (): Promise<void> {
    const waiting = this.#waiting
    this.#waiting = []
    try {
      const answers = await this.#answerAll(waiting.map(({ question }) => question))
      waiting.forEach(({ answer }, i) => { answer(answers[i]!) })
    } catch (err) {
      for (const { fail } of waiting) fail(err)
    }
  }
}

/** A `schedule` for a Coalescer whose turns need only run one at a time. */
export function oneAtATime (): (turn: () => Promise<void>) => void {
  let queue = Promise.resolve()
  return (turn) => { queue = queue.then(turn) }
}
