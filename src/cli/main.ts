import { readFileSync } from 'node:fs'
import { Command, CommanderError, Option } from 'commander'
import { collect } from './context.ts'
import { BadInputError } from '../errors.ts'
import { reportError } from './report-error.ts'

const KINDS = ['snapshot', 'config', 'blob']
const LISTS = ['snapshots', 'configs', 'blobs', 'runs', 'tags', 'origins']
const EVENT_TYPES = ['blob.add', 'run.start', 'run.checkpoint', 'run.end', 'run.fail', 'tag.set']

function withStoreOptions (command: Command): Command {
  return command
    .option('--json', 'print JSON Lines, one object per item')
    .option('--wait <seconds>', 'how long to wait for another process to release the store', '5')
}

/** Adds the options that put runs on a cluster: where, and what each job asks for. */
function withClusterOptions (command: Command): Command {
  return command
    .addOption(new Option('--on <where>', 'where runs execute: here, or as jobs of a batch scheduler').choices(['local', 'slurm']).default('local'))
    .option('--partition <name>', 'with --on slurm: the partition of every job')
    .option('--time <limit>', 'with --on slurm: the time limit of each job (e.g. 1-00:00:00)')
    .option('--cpus <n>', 'with --on slurm: CPUs per job (sbatch --cpus-per-task)')
    .option('--mem <size>', 'with --on slurm: memory per node of each job (e.g. 4G)')
    .option('--sbatch-arg <arg>', 'with --on slurm: any other sbatch option, one argument each, repeatable (e.g. --sbatch-arg=--account=md)', collect, [])
    .option('--no-merge', 'with --on slurm: no final job merging the job stores into STORE; merge them later with the merge.sh it writes')
}

/** This snapstore's version, from its own package.json. */
function packageVersion (): string {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return version
}

/** Builds the commander program of the CLI contract; command modules load only when their command runs. */
function buildProgram (): Command {
  const program = new Command('snapstore')
    .description('The history of long simulations: snapshots, configs and runs in an append-only, hash-chained store that merges across hosts.')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: () => undefined })
    .exitOverride()

  program.command('init').argument('<store>', 'directory to create (absent or empty)')
    .description('create an empty store and print its origin id')
    .option('--json', 'print JSON')
    .action(async (store: string, options) => { await (await import('./init.ts')).init(store, options) })

  withStoreOptions(program.command('add')
    .argument('<kind>', `what the files are: ${KINDS.join(', ')}`)
    .argument('<store>', 'store directory')
    .argument('<files...>', 'files to add ("-" reads standard input)')
    .description('store files and record them; prints one id per line, in argument order')
    .option('--name <name>', 'a name for the blob (default: the file name)')
    .option('--meta <key=value>', 'metadata, repeatable', collect, [])
    .option('--tag <tag>', 'point a tag at the blob (one file only)')
    .option('--fingerprint', 'record this platform in the metadata: fingerprint.host, .platform, .release, .arch, .cpu, .cores, .node (a --meta of the same key wins)'))
    .action(async (kind: string, store: string, files: string[], options) => { await (await import('./add.ts')).add(kind, store, files, options) })

  withStoreOptions(program.command('ls')
    .argument('<what>', LISTS.join('|'))
    .argument('<store>', 'store directory')
    .description('list in order of first appearance')
    .option('-l, --long', 'a header line, then tab-separated columns')
    .addOption(new Option('--status <status>', 'runs: only with this status').choices(['running', 'completed', 'failed', 'interrupted', 'stale']))
    .option('--from <id>', 'runs: only those started from this snapshot')
    .option('--config <id>', 'runs: only those with this config')
    .option('--where <condition>', "runs: 'params.NAME OP VALUE'; snapshots, configs, blobs: 'meta.NAME OP VALUE' (e.g. meta.fingerprint.host=node1); OP one of = != < <= > >= (repeatable)", collect, [])
    .option('--sha256sums', 'snapshots, configs, blobs: "sha256sum -c" lines for the files "get --all DIR" writes'))
    .action(async (what: string, store: string, options) => { await (await import('./ls.ts')).ls(what, store, options) })

  withStoreOptions(program.command('get')
    .argument('<kind>', KINDS.join('|'))
    .argument('<store>', 'store directory')
    .argument('[id]', 'a CID, a unique prefix of one or of its hex digest (8+ characters), a wepy MD5, or a tag')
    .description('write the bytes of a blob, verified against its id')
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .option('--all <dir>', 'write every blob of the kind into DIR, each named by its id, and a SHA256SUMS file for "sha256sum -c"'))
    .action(async (kind: string, store: string, id: string | undefined, options) => { await (await import('./get.ts')).get(kind, store, id, options) })

  withStoreOptions(program.command('show')
    .argument('<store>', 'store directory')
    .argument('[id]', 'a blob, run or event (no id: the store\'s totals)')
    .description('describe a blob, run or event, or the whole store')
    .option('--lineage', 'for a snapshot: the chain of runs that produced it'))
    .action(async (store: string, id: string | undefined, options) => { await (await import('./show.ts')).show(store, id, options) })

  withStoreOptions(program.command('log')
    .argument('<store>', 'store directory')
    .description('the audit trail in total order: time clock origin:seq type summary')
    .option('--run <id>', 'only the events of one run')
    .option('--origin <origin>', 'only the events of one origin')
    .addOption(new Option('--type <type>', 'only events of one type').choices(EVENT_TYPES))
    .option('--since <iso>', 'only events at or after this time (ISO 8601)')
    .option('--limit <n>', 'at most N events')
    .option('--merges', 'show this store\'s local journal of merges instead'))
    .action(async (store: string, options) => { await (await import('./log.ts')).log(store, options) })

  withStoreOptions(program.command('merge')
    .argument('<dest>', 'store directory to merge into')
    .argument('<sources...>', 'store directories, .car files or http(s):// URLs of "snapstore serve" to merge from (only read)')
    .description('copy in what each source has and DEST lacks, after checking every id, chain and digest')
    .option('--dry-run', 'check every event and say what would be copied, writing nothing (blob bytes are checked only when copied)')
    .option('--token-file <file>', 'for URLs: the token the server wants (default: $SNAPSTORE_TOKEN)'))
    .action(async (dest: string, sources: string[], options) => { await (await import('./merge.ts')).merge(dest, sources, options) })

  withStoreOptions(program.command('serve')
    .argument('<store>', 'store directory to serve')
    .description('serve the store to merge and push over HTTP; prints the URL, serves until SIGINT or SIGTERM')
    .option('--bind <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '7420')
    .option('--token-file <file>', 'require "Authorization: Bearer TOKEN" with the token in FILE')
    .option('--allow-push', 'take pushes (read-only without it)')
    .option('--max-push-bytes <n>', 'largest push taken, in bytes (default 4 GiB)'))
    .action(async (store: string, options) => { await (await import('./serve.ts')).serve(store, options) })

  withStoreOptions(program.command('push')
    .argument('<store>', 'store directory to send from (only read)')
    .argument('<url>', 'http(s):// URL of "snapstore serve --allow-push"')
    .description('send the server what it lacks; it checks everything before writing')
    .option('--token-file <file>', 'the token the server wants (default: $SNAPSTORE_TOKEN)'))
    .action(async (store: string, url: string, options) => { await (await import('./push.ts')).push(store, url, options) })

  withClusterOptions(withStoreOptions(program.command('run')
    .argument('<store>', 'store directory (only read with --job-dir or --on slurm)')
    .argument('[command...]', 'the simulation command, after "--"')
    .description('run CMD as one segment (or N chained segments), recording its start, checkpoints and end')
    .option('--from <id>', 'start snapshot')
    .option('--config <id>', 'config')
    .option('--param <key=value>', 'a parameter, repeatable (numbers are compared as numbers)', collect, [])
    .option('--seed <seed>', 'the seed (default: derived from the run key, so reruns are reproducible)')
    .option('--job-dir <dir>', 'write events and blobs to DIR/checkpoint.store instead; merge it home later (with --on slurm: the folder job stores go under, default STORE/jobs)')
    .option('--force', 'run even if a completed run with the same key exists')
    .option('--label <label>', 'a label for the run')
    .option('--segments <n>', 'run N segments, each from the previous end snapshot')
    .option('--trajectory <t>', 'trajectory number, for batch labels and seeds')
    .option('--seed-base <id>', 'seed rule id: segment seeds are ID, trajectory and step as two digits each')
    .option('--template <file>', 'a Jinja2-style config template rendered per segment')
    .option('--step <k>', 'run only step K of the N segments (0 is the first); a later step starts from --from, or from the end of step K-1 found in STORE')))
    .action(async (store: string, command: string[], options) => { await (await import('./run.ts')).run(store, command, options) })

  withStoreOptions(program.command('resume')
    .argument('<store>', 'store directory')
    .argument('<run>', 'the run to continue')
    .argument('[command...]', 'the simulation command, after "--"')
    .description('start a run that continues RUN from its last checkpoint, with the same config and params, recorded in STORE'))
    .action(async (store: string, run: string, command: string[], options) => { await (await import('./resume.ts')).resume(store, run, command, options) })

  withClusterOptions(withStoreOptions(program.command('sweep')
    .argument('<store>', 'store directory')
    .argument('[command...]', 'the simulation command, after "--"')
    .description('run the full factorial of the parameters, skipping runs already completed; prints a table')
    .option('--from <id>', 'start snapshot')
    .option('--config <id>', 'config')
    .option('--param <name=v1,v2,...>', 'a parameter and its values, repeatable', collect, [])
    .option('--jobs <n>', 'how many runs at a time (default 1; with --on slurm: no limit unless given)')
    .option('--force', 'rerun points whose run already completed')
    .option('--job-dir <dir>', 'with --on slurm: the folder job stores go under (default STORE/jobs)')))
    .action(async (store: string, command: string[], options) => { await (await import('./sweep.ts')).sweep(store, command, options) })

  withStoreOptions(program.command('import-wepy')
    .argument('<store>', 'store directory')
    .argument('<files...>', 'wepy orchestrator databases (.orch.sqlite), only read')
    .description('bring wepy orchestrator databases in: snapshots and configs as blobs (their wepy MD5 accepted as an id), runs as completed runs, meta defaults as wepy.* tags')
    .addHelpText('after', '\nPrints "imported S snapshots, C configs, R runs from FILE" per file, counting only what was new: importing again prints zeros.'))
    .action(async (store: string, files: string[], options) => { await (await import('./import-wepy.ts')).importWepyCommand(store, files, options) })

  withStoreOptions(program.command('graph')
    .argument('<store>', 'store directory')
    .argument('[id]', 'a snapshot or run (default: the whole store)')
    .description('the lineage graph: snapshots as nodes, runs as edges, checkpoints dashed')
    .addOption(new Option('--format <format>', 'output format').choices(['dot', 'gexf', 'mermaid']).default('dot')))
    .action(async (store: string, id: string | undefined, options) => { await (await import('./graph.ts')).graph(store, id, options) })

  withStoreOptions(program.command('export')
    .argument('<store>', 'store directory')
    .argument('[ids...]', 'snapshots, configs, blobs or runs to export (all when none)')
    .description('write a CARv1 file with the events and blobs a receiving store needs')
    .requiredOption('-o, --output <file>', 'the .car file to write'))
    .action(async (store: string, ids: string[], options) => { await (await import('./export.ts')).exportCommand(store, ids, options) })

  withStoreOptions(program.command('tag')
    .argument('<store>', 'store directory')
    .argument('<name>', 'tag name')
    .argument('<id>', 'the blob or run it points at')
    .description('point a tag at a blob or run (last writer wins across merges)'))
    .action(async (store: string, name: string, id: string, options) => { await (await import('./tag.ts')).tag(store, name, id, options) })

  withStoreOptions(program.command('verify')
    .argument('<store>', 'store directory')
    .description('re-hash every blob and event; check chains, references and projections')
    .option('--sample <percent>', 're-hash only this percentage of the blob chunks, chosen at random')
    .addHelpText('after', '\nThe projections are rebuilt into a scratch store under $TMPDIR (or /tmp), removed afterwards: it needs free space up to the size of the store\'s database.'))
    .action(async (store: string, options) => { await (await import('./verify.ts')).verify(store, options) })

  withStoreOptions(program.command('reindex')
    .argument('<store>', 'store directory')
    .description('rebuild every projection from the log'))
    .action(async (store: string, options) => { await (await import('./reindex.ts')).reindexCommand(store, options) })

  return program
}

/** Runs the CLI on `argv` and returns the exit status; errors become one line on stderr. */
export async function main (argv: readonly string[]): Promise<number> {
  // Node decodes arguments as UTF-8, turning bytes that are not into U+FFFD: such a path names another file.
  const garbled = argv.find((arg) => arg.includes('\uFFFD'))
  if (garbled !== undefined) return reportError(new BadInputError(`Cannot use argument "${garbled}": it is not valid UTF-8 (snapstore reads paths and names as UTF-8)`))
  const program = buildProgram()
  for (const command of program.commands) command.exitOverride().configureOutput({ outputError: () => undefined })
  try {
    await program.parseAsync(argv, { from: 'user' })
    // A command that finished but found a problem (verify) sets the status itself.
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) return 0
    // No command at all: commander has printed the help to stderr; that is a usage error, ended by the contract's line.
    if (err instanceof CommanderError && err.code === 'commander.help') {
      if (err.exitCode === 0) return 0
      process.stderr.write('snapstore: E_USAGE: no command given (see "snapstore --help")\n')
      return 2
    }
    return reportError(err)
  }
}
